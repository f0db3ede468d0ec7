"""Payment methods beyond cash: card terminals over ZVT (crash-safe), vouchers plug in the same way."""
