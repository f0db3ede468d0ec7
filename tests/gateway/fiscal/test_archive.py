"""GoBD archive: ``storegw archive verify`` on the ledger and on a bundle; tampering is named by seq."""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.fiscal.archive import verify_bundle, verify_ledger
from gateway.ledger.journal import GENESIS_HASH, entry_hash

from .fiscal_gateway import CHOC, PEN, start_gateway


async def cli(argv: list[str]) -> int:
    """Run ``storegw`` (which runs its own event loop) in a worker thread."""
    return await asyncio.wait_for(asyncio.to_thread(main, argv), 60)


def write_config(tmp_path: Path) -> Path:
    """A config enabling the software TSE in demo mode with the state dir the tests use."""
    path = tmp_path / "gateway.toml"
    path.write_text('[tse]\nenabled = true\nmode = "demo"\ntype = "software"\nclient_id = "KASSE-01"\n', "utf-8")
    return path


async def sell_and_close(data: Path) -> list[int]:
    """Three signed sales and a day closing; returns the sales' journal seqs."""
    fg = await start_gateway(data)
    try:
        seqs = []
        for code in (PEN, CHOC, PEN):
            r = await fg.gw.sales.finish(cashier="c", lines=[{"code": code}], payments=[{"method": "cash", "amount": 500}])
            seqs.append(r["seq"])
        from gateway.fiscal.closing import close_day

        await close_day(fg.gw.ledger, fg.gw.config, fg.gw.data_dir, tse=fg.tse, client_id="KASSE-01")
        return seqs
    finally:
        await fg.gw.stop()


def tamper_signature(db: Path, seq: int, rechain: bool) -> None:
    """Replace the TSE signature of row ``seq`` (optionally re-hashing the chain so only the signature is wrong)."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("DROP TRIGGER journal_no_update")
    payload = json.loads(conn.execute("SELECT payload FROM journal WHERE seq=?", (seq,)).fetchone()[0])
    sig = bytearray(base64.b64decode(payload["tse"]["signature"]))
    sig[5] ^= 0x01
    payload["tse"]["signature"] = base64.b64encode(bytes(sig)).decode()
    conn.execute("UPDATE journal SET payload=? WHERE seq=?",
                 (json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False), seq))
    if rechain:
        prev = GENESIS_HASH
        for s, ts, t, agg, body in conn.execute("SELECT seq, ts, type, aggregate, payload FROM journal ORDER BY seq").fetchall():
            h = entry_hash(prev, s, ts, t, agg, body)
            conn.execute("UPDATE journal SET prev_hash=?, hash=? WHERE seq=?", (prev, h, s))
            prev = h
    conn.close()


async def test_verify_passes_then_names_the_tampered_seq(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    seqs = await sell_and_close(data)
    cfg = str(write_config(tmp_path))
    assert await cli(["--config", cfg, "--data-dir", str(data), "archive", "verify"]) == 0
    ok = json.loads(capsys.readouterr().out)
    assert ok["ok"] and ok["signatures_checked"] == 3 and ok["journal"]["ok"]

    tamper_signature(data / "ledger.db", seqs[1], rechain=True)
    assert await cli(["--config", cfg, "--data-dir", str(data), "archive", "verify"]) == 1
    out = capsys.readouterr()
    result = json.loads(out.out)
    assert result["journal"]["ok"]  # the chain was forged consistently; only the TSE signature catches it
    assert [(p["seq"], p["kind"]) for p in result["problems"]] == [(seqs[1], "tse-signature")]
    assert f"seq {seqs[1]}: tse-signature" in out.err


async def test_tamper_without_rechain_breaks_both_checks(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seqs = await sell_and_close(data)
    tamper_signature(data / "ledger.db", seqs[0], rechain=False)
    from gateway.app import Gateway
    from gateway.config import Config

    gw = Gateway(Config({}), data)
    gw.open()
    try:
        result = verify_ledger(gw.ledger, data)
    finally:
        gw.ledger.close()
    assert {(p["seq"], p["kind"]) for p in result["problems"]} == {(seqs[0], "hash-chain"), (seqs[0], "tse-signature")}


async def test_bundle_export_and_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    seqs = await sell_and_close(data)
    cfg = str(write_config(tmp_path))
    out = tmp_path / "bundle"
    assert await cli(["--config", cfg, "--data-dir", str(data), "archive", "export", str(out)]) == 0
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {"journal.jsonl", "HEAD.json", "tse-export.tar", "README.md", "SHA256SUMS", "dsfinvk/index.xml",
            "dsfinvk/transactions.csv"} <= names
    capsys.readouterr()
    assert await cli(["archive", "verify", "--bundle", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["signatures_checked"] == 3
    # change one signature in the bundle's journal: checksum and signature both fail, named by seq
    lines = (out / "journal.jsonl").read_text("utf-8").splitlines()
    row = json.loads(lines[seqs[2] - 1])
    payload = json.loads(row["payload"])
    payload["tse"]["signature"] = payload["tse"]["signature"][::-1]
    row["payload"] = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    lines[seqs[2] - 1] = json.dumps(row)
    (out / "journal.jsonl").write_text("\n".join(lines) + "\n", "utf-8")
    result = verify_bundle(out)
    kinds = {(p["seq"], p["kind"]) for p in result["problems"]}
    assert not result["ok"]
    assert {(None, "checksums"), (seqs[2], "hash-chain"), (seqs[2], "tse-signature")} <= kinds


async def test_cli_day_close_and_exports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    fg = await start_gateway(data)
    try:
        await fg.gw.sales.finish(cashier="c", lines=[{"code": PEN}], payments=[{"method": "card", "amount": 199}])
    finally:
        await fg.gw.stop()
    cfg = str(write_config(tmp_path))
    base = ["--config", cfg, "--data-dir", str(data)]
    assert await cli([*base, "day", "close"]) == 0
    z = json.loads(capsys.readouterr().out)
    assert z["z_nr"] == 1 and z["report"]["payments"] == {"card": 199} and z["tse"]["serial_number"]
    day = z["business_day"]
    assert await cli([*base, "export", "dsfinvk", "--from", day, "--to", day, str(tmp_path / "ds")]) == 0
    assert (tmp_path / "ds" / "index.xml").exists() and len(list((tmp_path / "ds").iterdir())) == 22
    assert await cli([*base, "export", "datev", "--month", day[:7], str(tmp_path / "EXTF_Kasse.csv")]) == 0
    assert (tmp_path / "EXTF_Kasse.csv").read_bytes().startswith(b'"EXTF";700;21;')
    assert await cli([*base, "export", "tse", str(tmp_path / "tse.tar")]) == 0
    import tarfile

    with tarfile.open(tmp_path / "tse.tar") as tar:
        assert any(n.endswith(".log") for n in tar.getnames())
    capsys.readouterr()
    assert await cli([*base, "day", "closings"]) == 0
    assert [c["z_nr"] for c in json.loads(capsys.readouterr().out)] == [1]
