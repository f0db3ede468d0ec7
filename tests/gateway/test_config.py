"""Config validation: typed, bounded sections; errors name file, section and key; docs stay in sync."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import gateway.omni.config  # noqa: F401 - registers [omni], which has float options
from gateway.config import ConfigError, load_config, render_docs

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "gateway.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_valid_file(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, '[store]\nid = "berlin-01"\n[http]\nport = 9000\nhost = "0.0.0.0"\n'))
    assert cfg.store.id == "berlin-01"
    assert cfg.http.port == 9000
    assert cfg.pos.max_line_qty == 9999  # default


@pytest.mark.parametrize(
    ("text", "section", "key", "fragment"),
    [
        ("[http]\nport = 'x'\n", "http", "port", "expected an integer"),
        ("[http]\nport = 70000\n", "http", "port", "above the maximum"),
        ("[http]\nprot = 1\n", "http", "prot", "unknown option"),
        ("[htp]\n", "htp", "", "unknown section"),
        ("[store]\nid = 'has space'\n", "store", "id", "does not match"),
        ("[log]\nlevel = 'LOUD'\n", "log", "level", "is not one of"),
        ("[pos]\nmanual_weight_allowed = 1\n", "pos", "manual_weight_allowed", "true or false"),
        ("[http\n", "-", "", "invalid TOML"),
        ("[omni]\nhq_timeout_s = nan\n", "omni", "hq_timeout_s", "finite number"),
        ("[omni]\nhq_timeout_s = inf\n", "omni", "hq_timeout_s", "finite number"),
    ],
)
def test_errors_name_file_section_key(tmp_path: Path, text: str, section: str, key: str, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert err.file == str(path) and err.section == section and err.key == key
    assert fragment in err.detail and str(path) in err.detail


def test_check_config_cli(tmp_path: Path) -> None:
    good = write(tmp_path, "[http]\nport = 8081\n")
    out = subprocess.run([sys.executable, "-m", "gateway.cli", "check-config", str(good)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "ok" in out.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text("[http]\nport = -1\n")
    out = subprocess.run([sys.executable, "-m", "gateway.cli", "check-config", str(bad)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 78
    assert f"{bad}: [http] port" in out.stderr


def test_run_refuses_bad_config(tmp_path: Path) -> None:
    bad = write(tmp_path, "[ledger]\nbusy_timeout_ms = 1\n")
    out = subprocess.run([sys.executable, "-m", "gateway.cli", "--config", str(bad), "--data-dir", str(tmp_path / "d"), "run"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 78 and "[ledger] busy_timeout_ms" in out.stderr
    assert not (tmp_path / "d" / "ledger.db").exists()


def test_configuration_doc_is_current() -> None:
    from gateway.components import import_sections

    import_sections()
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert doc.strip() == render_docs().strip(), "docs/configuration.md is stale: run `make docs`"
