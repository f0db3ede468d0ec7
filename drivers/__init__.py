"""Hardware and protocol libraries of storegw; usable without the daemon and never importing ``gateway``."""
