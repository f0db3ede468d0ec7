"""Cash drawers kicked through an ESC/POS receipt printer (``ESC p`` / ``DLE DC4``), state via DLE EOT 1."""
