"""Serial plumbing shared by the input drivers: a byte-stream framer and an async serial port.

Both work with any RS-232, USB-serial (FTDI, CH340, PL2303) or USB-CDC device that pyserial
opens; the protocols on top live in the scale and scanner packages.
"""

from drivers.serialio.framing import Framer, Garbage
from drivers.serialio.port import PortOffline, SerialLine, SerialSettings

__all__ = ["Framer", "Garbage", "PortOffline", "SerialLine", "SerialSettings"]
