"""Single import point for python-escpos 3.1, with its capabilities cache kept out of ``/tmp``.

python-escpos computes ``ESCPOS_CAPABILITIES_PICKLE_DIR or tempfile.mkdtemp()`` when it is first
imported, so every process start would leave a new ~70 KB pickle in ``/tmp`` (fact sheet
peripherals.md §1.1). Importing it only through this module points the cache at a persistent
per-user directory unless the operator already set the variable.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import tempfile
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


def _fresh(pickle: Path) -> bool:
    """True when ``pickle`` exists and is newer than the installed capabilities file.

    python-escpos rebuilds an older pickle *in place* (open "wb", then dump), so a cache left by
    an earlier install, as after a reinstall of the package, must be treated like a missing one.
    """
    try:
        built = pickle.stat().st_mtime
    except OSError:
        return False
    source = Path(os.environ.get("ESCPOS_CAPABILITIES_FILE") or _bundled_capabilities())
    try:
        return built >= source.stat().st_mtime
    except OSError:
        return False


def _bundled_capabilities() -> str:
    spec = importlib.util.find_spec("escpos")
    locations = spec.submodule_search_locations if spec else None
    return str(Path(next(iter(locations or []), ".")) / "capabilities.json")


def _prepare_cache() -> None:
    """Point python-escpos at the shared cache, which is only ever replaced whole.

    python-escpos writes its pickle in place; two processes starting at once (test workers, a
    restart racing the CLI) could read a half-written file. A missing pickle is therefore built
    in a private directory and renamed into the shared one atomically.
    """
    shared = _cache_dir()
    preset = os.environ.get("ESCPOS_CAPABILITIES_PICKLE_DIR")
    # A directory the operator chose is theirs; our own (inherited from a parent process that
    # imported this module) is checked again, as the parent may have found it stale too.
    if not shared or (preset and preset != shared):
        return
    name = f"{platform.python_version()}.capabilities.pickle"
    if _fresh(Path(shared) / name):
        os.environ["ESCPOS_CAPABILITIES_PICKLE_DIR"] = shared
        return
    private = tempfile.mkdtemp(dir=shared, prefix=".build-")
    os.environ["ESCPOS_CAPABILITIES_PICKLE_DIR"] = private
    import escpos.capabilities  # noqa: F401 - builds the pickle in ``private``

    try:
        os.replace(Path(private) / name, Path(shared) / name)
        os.rmdir(private)
    except OSError:
        pass
    os.environ["ESCPOS_CAPABILITIES_PICKLE_DIR"] = shared


_prepare_cache()

from escpos import capabilities  # noqa: E402
from escpos.escpos import Escpos  # noqa: E402
from escpos.exceptions import Error as EscposLibraryError  # noqa: E402
from escpos.printer import Dummy, Network, Serial, Usb  # noqa: E402

__all__ = ["Dummy", "Escpos", "EscposLibraryError", "Network", "Serial", "Usb", "capabilities"]
