"""Tests for firmware-config: the device catalogue, the generated udev rules, the Pi fragment."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
FIRMWARE = REPO / "firmware-config"


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_udev", FIRMWARE / "gen_udev.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_udev"] = module  # dataclasses look the module up by name
    spec.loader.exec_module(module)
    return module


gen = _load_generator()
# A rule line: comma-separated KEY{attr}OP"value" items (udev(7) syntax).
ITEM = re.compile(r'^(?P<key>[A-Z_]+)(\{(?P<attr>[A-Za-z_]+)\})?(?P<op>==|!=|\+=|:=|=)"(?P<value>[^"]*)"$')
MATCH_KEYS = {"ACTION", "SUBSYSTEM", "KERNEL", "ATTR", "ATTRS", "ENV"}
ASSIGN_KEYS = {"GROUP", "MODE", "SYMLINK", "ENV", "GOTO", "LABEL"}


def test_committed_rules_match_the_catalogue() -> None:
    expected = gen.render(gen.parse_catalogue((FIRMWARE / "devices.toml").read_text()))
    assert (FIRMWARE / "99-storegw.rules").read_text() == expected
    result = subprocess.run([sys.executable, str(FIRMWARE / "gen_udev.py"), "--check"], capture_output=True,
                            text=True, timeout=30, check=False)
    assert (result.returncode, result.stderr) == (0, "")


def test_check_reports_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "99-storegw.rules"
    stale.write_text("# old\n")
    assert gen.main(["--check", "--output", str(stale)]) == 1
    assert gen.main(["--output", str(stale)]) == 0
    assert gen.main(["--check", "--output", str(stale)]) == 0


def test_catalogue_has_the_well_known_devices_with_sources() -> None:
    devices = {d.id: d for d in gen.parse_catalogue((FIRMWARE / "devices.toml").read_text())}
    by_ids = {(d.vid, d.pid): d for d in devices.values()}
    assert by_ids[("04b8", "0202")].kind == "printer"
    assert by_ids[("05e0", "1701")].interfaces == ("tty",)
    assert by_ids[("0eb8", "2200")].kind == "scale"
    assert all(d.source.strip() and d.notes.strip() for d in devices.values())


def test_every_rule_line_is_well_formed() -> None:
    for line in (FIRMWARE / "99-storegw.rules").read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        items = line.split(", ")
        parsed = [ITEM.match(item) for item in items]
        assert all(parsed), line
        for m in parsed:
            assert m is not None
            keys = MATCH_KEYS if m["op"] in ("==", "!=") else ASSIGN_KEYS
            assert m["key"] in keys, line
        if "GROUP" in line:
            groups = {m["value"] for m in parsed if m is not None and m["key"] == "GROUP"}
            # storegw.service's SupplementaryGroups: a node in any other group is unreachable.
            assert groups <= {"dialout", "lp", "input", "plugdev"}, line
            assert 'MODE="0660"' in line


def test_serial_nodes_are_hidden_from_modemmanager() -> None:
    for line in (FIRMWARE / "99-storegw.rules").read_text().splitlines():
        if line.startswith('SUBSYSTEM=="tty"'):
            assert 'ENV{ID_MM_DEVICE_IGNORE}="1"' in line


@pytest.mark.parametrize(("old", "new", "field"), [
    ('vid = "04b8"', 'vid = "04B8"', "vid"),
    ('kind = "printer"', 'kind = "toaster"', "kind"),
    ('interface = ["usb"]', 'interface = ["bluetooth"]', "interface"),
    ('id = "prolific-pl2303"', 'id = "ftdi-ft232"', "id"),
    ('vid = "067b"\npid = "2303"', 'vid = "0403"\npid = "6001"', "pid"),
])
def test_bad_catalogue_names_entry_and_field(old: str, new: str, field: str) -> None:
    text = (FIRMWARE / "devices.toml").read_text()
    assert old in text
    with pytest.raises(gen.CatalogueError) as caught:
        gen.parse_catalogue(text.replace(old, new, 1))
    assert caught.value.field == field


def test_pi_fragment_lines_fit_the_firmware_limit() -> None:
    text = (FIRMWARE / "pi/config.txt.d/storegw.txt").read_text()
    assert all(len(line) < 98 for line in text.splitlines())
    assert "dtparam=watchdog=on" in text
    # Ends in [all] so whatever follows the include line applies to every board again.
    assert [line for line in text.splitlines() if line.startswith("[")][-1] == "[all]"
