"""The storegw command line: clients, catalog import, ledger commands, demo start-up."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from gateway.netutil import free_port


def storegw(*args: str, data: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([sys.executable, "-m", "gateway.cli", "--data-dir", str(data), *args], capture_output=True, text=True,
                         timeout=60)
    if check:
        assert out.returncode == 0, out.stderr
    return out


def test_clients_add_list_revoke(tmp_path: Path) -> None:
    out = storegw("clients", "add", "till-1", "--role", "cashier", data=tmp_path)
    token = out.stdout.strip().splitlines()[-1]
    assert token.startswith("sgw_") and len(token) > 40
    listing = storegw("clients", "list", data=tmp_path).stdout
    assert "till-1\tcashier" in listing and token not in listing
    assert token not in (tmp_path / "ledger.db").read_bytes().decode("latin-1")
    storegw("clients", "revoke", "till-1", data=tmp_path)
    assert "revoked" in storegw("clients", "list", data=tmp_path).stdout
    bad = storegw("clients", "add", "x", "--role", "boss", data=tmp_path, check=False)
    assert bad.returncode != 0
    # The gateway's own broker account: refused, and later clients still get theirs.
    clash = storegw("clients", "add", "gateway", "--role", "admin", data=tmp_path, check=False)
    assert clash.returncode != 0 and "reserved" in clash.stderr and "Traceback" not in clash.stderr
    storegw("clients", "add", "till-2", "--role", "cashier", data=tmp_path)
    assert "till-2:" in (tmp_path / "mosquitto" / "passwd").read_text()


def test_catalog_import_reports_bad_rows(tmp_path: Path) -> None:
    csv = tmp_path / "products.csv"
    csv.write_text(
        "code,name,vat_id,price,unit,group\n"
        "4006381333931,Kugelschreiber,1,199,piece,Büro\n"
        "4006381333932,Wrong check digit,1,199,piece,Büro\n"
        "1001,Äpfel,2,249,kg,Obst\n"
        "1002,Birnen,9,249,kg,Obst\n"
        "1003,Kirschen,2,2.49,kg,Obst\n"
        "1004,Trauben,2,349,litre,Obst\n",
        encoding="utf-8",
    )
    out = storegw("catalog", "import", str(csv), data=tmp_path, check=False)
    assert out.returncode == 2
    result = json.loads(out.stdout)
    assert result["imported"] == 2 and result["errors"] == 4
    for line in (3, 5, 6, 7):
        assert f"{csv}:{line}:" in out.stderr
    js = tmp_path / "p.json"
    js.write_text(json.dumps([{"code": "40084015", "name": "Kaugummi", "vat_id": 1, "price": 99}]))
    assert json.loads(storegw("catalog", "import", str(js), data=tmp_path).stdout)["imported"] == 1
    stats = json.loads(storegw("ledger", "stats", data=tmp_path).stdout)
    assert stats["by_type"]["catalog.imported"] == 2
    # A spreadsheet's Windows-1252 CSV is read as such; unreadable files are a clear error, no traceback.
    latin = tmp_path / "excel.csv"
    latin.write_bytes("code,name,vat_id,price,unit,group\n1005,Möhren,2,129,kg,Gemüse\n".encode("cp1252"))
    assert json.loads(storegw("catalog", "import", str(latin), data=tmp_path).stdout)["imported"] == 1
    with sqlite3.connect(tmp_path / "ledger.db") as db:
        assert db.execute("SELECT name, grp FROM products WHERE code='1005'").fetchone() == ("Möhren", "Gemüse")
    for bad in (tmp_path / "missing.csv", tmp_path):
        out = storegw("catalog", "import", str(bad), data=tmp_path, check=False)
        assert out.returncode != 0 and "cannot read" in out.stderr and "Traceback" not in out.stderr


def test_ledger_verify_and_rebuild(tmp_path: Path) -> None:
    storegw("clients", "add", "a", "--role", "admin", data=tmp_path)
    assert json.loads(storegw("ledger", "verify", data=tmp_path).stdout)["ok"] is True
    assert "rebuilt" in storegw("ledger", "rebuild", data=tmp_path).stdout


def test_demo_serves_healthz(tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "--data-dir", str(tmp_path), "demo", "--http-port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        deadline = time.monotonic() + 20
        body = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                    body = json.loads(resp.read())
                    break
            except OSError:
                time.sleep(0.1)
        assert body is not None and body["status"] == "ok"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/status", timeout=2) as resp:
            status = json.loads(resp.read())
        assert status["demo"] is True and status["ledger"]["products"] >= 300
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert "status page http://127.0.0.1:" in out and "demo token (admin): sgw_" in out


def test_driver_commands(tmp_path: Path) -> None:
    """``storegw barcode parse``, ``zvt decode`` and ``escpos render`` reach the driver command lines."""
    out = storegw("barcode", "parse", "4006381333931", data=tmp_path)
    assert json.loads(out.stdout)["gtin"] == "4006381333931"
    bad = storegw("barcode", "parse", "4006381333932", data=tmp_path, check=False)
    assert bad.returncode != 0 and "check digit" in bad.stderr
    apdu = json.loads(storegw("zvt", "decode", "06 01 0A 04 00 00 00 00 01 99 49 09 78", data=tmp_path).stdout)
    assert apdu["class"] == "06" and apdu["instr"] == "01" and apdu["bmp"]["04"] == 199 and apdu["bmp"]["49"] == 978
    slip = tmp_path / "slip.bin"
    slip.write_bytes(b"\x1b@\x1bt\x13Gr\x81\xe1e \xd5\n\x1dV\x01")  # CP858: ü, ß and the euro sign
    text = storegw("escpos", "render", str(slip), "--png", str(tmp_path / "slip.png"), data=tmp_path).stdout
    assert "Grüße €" in text and (tmp_path / "slip.png").read_bytes()[:4] == b"\x89PNG"


def test_unusable_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    out = storegw("ledger", "stats", data=blocker / "data", check=False)
    assert out.returncode != 0 and "cannot create the data directory" in out.stderr and "Traceback" not in out.stderr
