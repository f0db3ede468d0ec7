"""Single import point for python-escpos 3.1, with its capabilities cache kept out of ``/tmp``.

python-escpos computes ``ESCPOS_CAPABILITIES_PICKLE_DIR or tempfile.mkdtemp()`` when it is first
imported, so every process start would leave a new ~70 KB pickle in ``/tmp`` (fact sheet
peripherals.md §1.1). Importing it only through this module points the cache at a persistent
per-user directory unless the operator already set the variable.
"""

from __future__ import annotations

import os
from pathlib import Path


def _cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    path = Path(base) / "storegw" / "escpos"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        # A read-only home: fall back to python-escpos' own behaviour rather than failing.
        return ""
    return str(path)


if not os.environ.get("ESCPOS_CAPABILITIES_PICKLE_DIR"):
    _dir = _cache_dir()
    if _dir:
        os.environ["ESCPOS_CAPABILITIES_PICKLE_DIR"] = _dir

from escpos import capabilities  # noqa: E402
from escpos.escpos import Escpos  # noqa: E402
from escpos.exceptions import Error as EscposLibraryError  # noqa: E402
from escpos.printer import Dummy, Network, Serial, Usb  # noqa: E402

__all__ = ["Dummy", "Escpos", "EscposLibraryError", "Network", "Serial", "Usb", "capabilities"]
