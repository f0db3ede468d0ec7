"""Tests of building the TSE from configuration: production refuses the software TSE, secrets from files."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.tse.fiskaly import FiskalyTse
from drivers.tse.software import SoftwareTse
from gateway.errors import ConfigError
from gateway.fiscal.tse_factory import open_tse


def test_software_tse_in_demo(tmp_path: Path) -> None:
    tse = open_tse({"mode": "demo", "type": "software", "client_id": "KASSE-01", "state_dir": str(tmp_path)})
    assert isinstance(tse, SoftwareTse) and not tse.certified


def test_production_refuses_software_tse(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        open_tse({"mode": "production", "type": "software", "client_id": "K1", "state_dir": str(tmp_path)}, "gw.toml")
    assert err.value.key == "type" and "not certified" in err.value.detail and "gw.toml: [tse]" in err.value.detail


async def test_fiskaly_reads_secrets_from_files(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("the-key\n")
    (tmp_path / "secret").write_text("the-secret\n")
    tse = open_tse({"mode": "production", "type": "fiskaly", "client_id": "KASSE-01", "tss_id": "t",
                    "client_uuid": "u", "api_key_file": str(tmp_path / "key"),
                    "api_secret_file": str(tmp_path / "secret")})  # fmt: skip
    assert isinstance(tse, FiskalyTse) and tse.certified
    assert tse._cfg.api_key == "the-key" and tse._cfg.client_uuids == {"KASSE-01": "u"}
    await tse.close()


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"type": "fiskaly", "client_id": "K1", "api_key": "inline"}, "api_key"),
        ({"type": "fiskaly", "client_id": "K1", "tss_id": "t", "client_uuid": "u", "api_key_file": "/nonexistent",
          "api_secret_file": "/nonexistent"}, "api_key_file"),
        ({"type": "cloud", "client_id": "K1"}, "type"),
        ({"type": "software", "mode": "test", "client_id": "K1"}, "mode"),
        ({"type": "software", "mode": "demo", "client_id": "KASSE_1"}, "client_id"),
        ({"type": "software", "mode": "demo", "client_id": "K1"}, "state_dir"),
    ],
)  # fmt: skip
def test_bad_config_names_the_key(settings: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        open_tse(settings)
    assert err.value.key == key
