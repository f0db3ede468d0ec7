"""Cash drawers kicked through an ESC/POS receipt printer (``ESC p`` / ``DLE DC4``), state via DLE EOT 1."""

from drivers.drawer.drawer import (
    CashDrawer,
    DrawerConfigError,
    DrawerError,
    DrawerEvent,
    DrawerPort,
    DrawerUnavailable,
    kick_command,
    realtime_kick_command,
)

__all__ = [
    "CashDrawer", "DrawerConfigError", "DrawerError", "DrawerEvent", "DrawerPort", "DrawerUnavailable",
    "kick_command", "realtime_kick_command",
]
