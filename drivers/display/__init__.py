"""Customer pole displays (2 x 20 characters, serial) speaking the ESC/POS display command set."""
