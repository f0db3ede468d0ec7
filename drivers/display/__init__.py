"""Customer pole displays (2 x 20 characters, serial) speaking the ESC/POS (Epson DM-D) display command set."""

from drivers.display.codec import DisplayCodec, DisplayConfigError, DisplayError, DisplayOffline
from drivers.display.display import PoleDisplay
from drivers.display.simulator import DisplaySimulator, PtyDisplaySimulator

__all__ = [
    "DisplayCodec", "DisplayConfigError", "DisplayError", "DisplayOffline", "DisplaySimulator", "PoleDisplay",
    "PtyDisplaySimulator",
]
