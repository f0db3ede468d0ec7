"""Crash safety: SIGKILL the running gateway while a client posts sales, restart, check nothing is lost.

The gateway runs as a real child process executing ``storegw run``. To fit 50+ kill cycles into
seconds, the children are forked from a pre-imported launcher (a "zygote") instead of paying the
interpreter and import start-up each time: the child runs exactly ``gateway.cli.main(argv)``.
The first set-up steps and the final verification use the real ``python -m gateway.cli`` too.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.ledger.store import CORE_SCHEMA
from gateway.netutil import free_port

ROOT = Path(__file__).resolve().parents[2]
CYCLES = int(os.environ.get("STOREGW_CRASH_CYCLES", "50"))
PRODUCTS = [
    {"code": "4006381333931", "name": "Kugelschreiber", "vat_id": 1, "price": 199, "unit": "piece"},
    {"code": "4012345000009", "name": "Vollmilch 1l", "vat_id": 2, "price": 119, "unit": "piece"},
    {"code": "1001", "name": "Äpfel", "vat_id": 2, "price": 249, "unit": "kg"},
]

# Reads one JSON command per line on stdin; forks children that run the CLI with the given argv.
LAUNCHER = r"""
import json, os, sys
import gateway.app, gateway.api.server, gateway.api.openapi, gateway.cli
from gateway.cli import main
for line in sys.stdin:
    cmd = json.loads(line)
    if cmd["op"] == "spawn":
        pid = os.fork()
        if pid == 0:
            try:
                fd = os.open(cmd["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0); os.dup2(fd, 1); os.dup2(fd, 2)
                rc = main(cmd["argv"])
                sys.stdout.flush(); sys.stderr.flush()
            except BaseException as err:
                print("launcher child failed:", repr(err), file=sys.stderr); sys.stderr.flush()
                rc = 99
            os._exit(rc)
        print(json.dumps({"pid": pid}), flush=True)
    elif cmd["op"] == "wait":
        _, status = os.waitpid(cmd["pid"], 0)
        print(json.dumps({"rc": os.waitstatus_to_exitcode(status)}), flush=True)
"""


class Launcher:
    """The pre-imported parent of every gateway process of one test."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.proc = subprocess.Popen([sys.executable, "-c", LAUNCHER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     cwd=ROOT, text=True)
        self.n = 0

    def _ask(self, cmd: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "launcher died"
        return dict(json.loads(line))

    def spawn(self, argv: list[str]) -> tuple[int, Path]:
        """Fork a child running ``storegw ARGV``; returns its pid and log file."""
        self.n += 1
        log = self.tmp / f"child-{self.n}.log"
        return int(self._ask({"op": "spawn", "argv": argv, "log": str(log)})["pid"]), log

    def wait(self, pid: int) -> int:
        """Reap a child; its exit code (negative: killed by that signal)."""
        return int(self._ask({"op": "wait", "pid": pid})["rc"])

    def run(self, argv: list[str]) -> tuple[int, str]:
        """Run a CLI command to completion; exit code and output."""
        pid, log = self.spawn(argv)
        rc = self.wait(pid)
        return rc, log.read_text()

    def close(self) -> None:
        """Stop the launcher."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(10)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real ``python -m gateway.cli``."""
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)




def sale_body(rng: random.Random) -> dict[str, Any]:
    """A small random one-shot cash sale."""
    lines: list[dict[str, Any]] = []
    for p in rng.sample(PRODUCTS, rng.randint(1, 3)):
        lines.append({"code": p["code"], "weight_g": rng.randint(100, 2000), "weight_source": "scale"} if p["unit"] == "kg"
                     else {"code": p["code"], "qty": rng.randint(1, 3)})
    return {"lines": lines, "payments": [{"method": "cash", "amount": 5000}]}


def journal_sales(db: Path) -> dict[int, int]:
    """``{seq: receipt_no}`` of every committed sale (read with a fresh connection)."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT seq, payload FROM journal WHERE type='sale.finished'").fetchall()
    finally:
        conn.close()
    return {seq: json.loads(payload)["receipt_no"] for seq, payload in rows}


class Till:
    """A client posting sales; remembers acknowledged and in-flight requests."""

    def __init__(self, base: str, token: str, rng: random.Random) -> None:
        self.base = base
        self.headers = {"Authorization": f"Bearer {token}"}
        self.rng = rng
        self.acked: dict[str, dict[str, Any]] = {}
        self.inflight: dict[str, dict[str, Any]] = {}
        self.bodies: dict[str, dict[str, Any]] = {}

    async def post(self, session: aiohttp.ClientSession, key: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST one sale; raises on a connection error, asserts a 201 otherwise."""
        async with session.post(f"{self.base}/api/v1/sales", json=body, headers={**self.headers, "Idempotency-Key": key}) as r:
            doc = await r.json(content_type=None)
            assert r.status == 201, (r.status, doc)
            return dict(doc)

    async def sell_until_dead(self, session: aiohttp.ClientSession) -> None:
        """Post sales one after another until the connection breaks."""
        while True:
            key, body = uuid.uuid4().hex, sale_body(self.rng)
            self.bodies[key] = body
            self.inflight[key] = body
            try:
                doc = await self.post(session, key, body)
            except (TimeoutError, aiohttp.ClientError):
                return
            del self.inflight[key]
            self.acked[key] = doc

    async def retry_inflight(self, session: aiohttp.ClientSession) -> list[dict[str, Any]]:
        """Retry every request whose answer was lost, with its key and body; returns the answers."""
        out = []
        for key, body in list(self.inflight.items()):
            doc = await self.post(session, key, body)
            again = await self.post(session, key, body)
            assert again == doc, "a retry with the same key must return the first result"
            self.acked[key] = doc
            del self.inflight[key]
            out.append(doc)
        return out


async def wait_healthy(session: aiohttp.ClientSession, base: str, pid: int, log: Path, deadline_s: float = 20.0) -> None:
    """Poll /healthz until it answers 200."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            async with session.get(f"{base}/healthz") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.01)
    raise AssertionError(f"gateway pid {pid} not healthy in {deadline_s}s:\n{tail(log)}")


def tail(log: Path) -> str:
    """The end of a child's log."""
    return log.read_text()[-2000:]


def check_acked(db: Path, acked: dict[str, dict[str, Any]]) -> None:
    """Every sale that got a 2xx is in the journal with its receipt number."""
    sales = journal_sales(db)
    for key, doc in acked.items():
        assert sales.get(doc["seq"]) == doc["receipt_no"], f"acknowledged sale {key} (seq {doc['seq']}) missing"


async def test_sigkill_while_selling(tmp_path: Path) -> None:
    """50+ SIGKILLs at random moments: chain verifies, acknowledged sales survive, retries never double."""
    data = tmp_path / "data"
    db = data / "ledger.db"
    seed = int(os.environ.get("STOREGW_CRASH_SEED", str(random.randrange(1 << 30))))
    rng = random.Random(seed)
    catalog = tmp_path / "products.json"
    catalog.write_text(json.dumps(PRODUCTS))
    r = cli("--data-dir", str(data), "catalog", "import", str(catalog))
    assert r.returncode == 0, r.stderr
    r = cli("--data-dir", str(data), "clients", "add", "till-1", "--role", "cashier")
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip().splitlines()[-1]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    till = Till(base, token, rng)
    launcher = Launcher(tmp_path)
    started = time.monotonic()
    restarts: list[float] = []
    retried = recovered = 0
    committed: set[int] = set()
    try:
        async with asyncio.timeout(100):
            for cycle in range(CYCLES + 1):
                t0 = time.monotonic()
                pid, log = launcher.spawn(["--data-dir", str(data), "run", "--host", "127.0.0.1", "--http-port", str(port)])
                timeout = aiohttp.ClientTimeout(total=10)
                async with aiohttp.ClientSession(timeout=timeout) as session:
                    await wait_healthy(session, base, pid, log)
                    restarts.append(time.monotonic() - t0)
                    answers = await till.retry_inflight(session)
                    retried += len(answers)
                    # A retry of a sale committed just before the kill gets the stored first result.
                    recovered += sum(1 for d in answers if d["seq"] in committed)
                    if cycle == CYCLES:
                        break
                    sellers = [asyncio.create_task(till.sell_until_dead(session)) for _ in range(2)]
                    await asyncio.sleep(rng.uniform(0.0, 0.25))
                    os.kill(pid, signal.SIGKILL)
                    rc = launcher.wait(pid)
                    assert rc == -signal.SIGKILL, f"cycle {cycle}: gateway ended with {rc} before the kill:\n{log.read_text()}"
                    await asyncio.wait_for(asyncio.gather(*sellers), 15)
                vrc, out = launcher.run(["--data-dir", str(data), "ledger", "verify"])
                assert vrc == 0, f"cycle {cycle} (seed {seed}): ledger verify failed:\n{out}"
                check_acked(db, till.acked)
                committed = set(journal_sales(db))
            os.kill(pid, signal.SIGTERM)
            assert launcher.wait(pid) == 0, log.read_text()
    finally:
        launcher.close()
    elapsed = time.monotonic() - started
    print(f"seed {seed}: {CYCLES} kills in {elapsed:.1f}s, {len(till.acked)} sales, {retried} retried in-flight "
          f"({recovered} had committed before the kill), "
          f"restart to healthy p50 {sorted(restarts)[len(restarts) // 2] * 1000:.0f} ms")
    assert not till.inflight
    sales = journal_sales(db)
    # Exactly one sale.finished per key: every committed sale belongs to one acknowledged key.
    assert len(sales) == len(till.acked)
    assert sorted(sales) == sorted(d["seq"] for d in till.acked.values())
    assert len(set(sales.values())) == len(sales), "receipt numbers must be unique"
    assert len(till.acked) >= CYCLES, "too few sales were made to exercise the kills"
    r = cli("--data-dir", str(data), "ledger", "verify")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["last_seq"] >= max(sales)


# ---------------------------------------------------------------------------- tampering


@pytest.fixture
def sold_ledger(tmp_path: Path) -> Path:
    """A closed ledger with a catalog import and ten sales."""
    from gateway.app import Gateway
    from gateway.config import Config
    from gateway.pos.catalog import Catalog, validate_product

    gw = Gateway(Config({}), tmp_path)
    gw.open()

    def load(txn: Any) -> None:
        Catalog.upsert(txn, [validate_product(p) for p in PRODUCTS])
        txn.append("catalog.imported", "catalog", {"source": "test", "products": len(PRODUCTS), "rejected": 0})

    gw.ledger.write_sync(load)

    async def sell() -> None:
        for i in range(10):
            await gw.sales.finish(cashier="t", lines=[{"code": "4006381333931", "qty": 1 + i % 3}],
                                  payments=[{"method": "cash", "amount": 1000}])

    asyncio.run(sell())
    gw.ledger.close()
    return tmp_path


def tamper(data: Path, *sql: str | tuple[str, tuple[Any, ...]]) -> None:
    """Drop the append-only triggers and run statements directly on the journal."""
    conn = sqlite3.connect(data / "ledger.db", isolation_level=None)
    try:
        conn.execute("DROP TRIGGER journal_no_update")
        conn.execute("DROP TRIGGER journal_no_delete")
        for stmt in sql:
            if isinstance(stmt, tuple):
                conn.execute(*stmt)
            else:
                conn.execute(stmt)
    finally:
        conn.close()


def verify_fails_at(data: Path, seq: int) -> None:
    """``storegw ledger verify`` exits non-zero and names ``seq`` as the first bad one."""
    r = cli("--data-dir", str(data), "ledger", "verify")
    assert r.returncode != 0
    assert f"FAILED at seq {seq}" in r.stderr, r.stderr
    assert json.loads(r.stdout)["first_bad_seq"] == seq


def test_untouched_ledger_verifies(sold_ledger: Path) -> None:
    """The baseline: the same ledger without tampering passes with all 11 rows checked."""
    r = cli("--data-dir", str(sold_ledger), "ledger", "verify")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"ok": True, "checked": 11, "last_seq": 11, "first_bad_seq": None, "reason": ""}


def test_triggers_refuse_update_and_delete(sold_ledger: Path) -> None:
    """Without dropping the triggers the journal cannot be changed at all."""
    conn = sqlite3.connect(sold_ledger / "ledger.db")
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("UPDATE journal SET payload='{}' WHERE seq=3")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("DELETE FROM journal WHERE seq=3")
    finally:
        conn.close()
    assert "journal_no_update" in CORE_SCHEMA[0]


def test_altered_row_is_named(sold_ledger: Path) -> None:
    """Changing one amount inside a payload breaks that row's hash."""
    conn = sqlite3.connect(sold_ledger / "ledger.db")
    payload = conn.execute("SELECT payload FROM journal WHERE seq=5").fetchone()[0]
    conn.close()
    doc = json.loads(payload)
    doc["totals"]["gross"] += 100
    tamper(sold_ledger, ("UPDATE journal SET payload=? WHERE seq=5", (json.dumps(doc, separators=(",", ":")),)))
    verify_fails_at(sold_ledger, 5)


def test_altered_row_with_recomputed_hash_breaks_the_next_link(sold_ledger: Path) -> None:
    """A forger who recomputes the altered row's hash is caught by the following row's prev_hash."""
    from gateway.ledger.journal import entry_hash

    conn = sqlite3.connect(sold_ledger / "ledger.db")
    seq, ts, type_, agg, payload, prev = conn.execute(
        "SELECT seq, ts, type, aggregate, payload, prev_hash FROM journal WHERE seq=4").fetchone()
    conn.close()
    payload = payload.replace('"cashier":"t"', '"cashier":"x"')
    h = entry_hash(prev, seq, ts, type_, agg, payload)
    tamper(sold_ledger, ("UPDATE journal SET payload=?, hash=? WHERE seq=4", (payload, h)))
    verify_fails_at(sold_ledger, 5)


def test_removed_row_is_named(sold_ledger: Path) -> None:
    """Deleting a row leaves a gap at its sequence number."""
    tamper(sold_ledger, "DELETE FROM journal WHERE seq=7")
    verify_fails_at(sold_ledger, 7)


def test_inserted_row_is_named(sold_ledger: Path) -> None:
    """A row squeezed in (renumbering the rest) has a prev_hash or hash that does not fit."""
    conn = sqlite3.connect(sold_ledger / "ledger.db")
    rows = conn.execute("SELECT seq, ts, type, aggregate, payload, prev_hash, hash FROM journal WHERE seq>=6 ORDER BY seq").fetchall()
    conn.close()
    stmts: list[str | tuple[str, tuple[Any, ...]]] = ["DELETE FROM journal WHERE seq>=6"]
    fake = (6, rows[0][1], "cash.withdrawal", "receipt:999", '{"amount":100000}', rows[0][5], "0" * 64)
    stmts.append(("INSERT INTO journal VALUES (?,?,?,?,?,?,?)", fake))
    for r in rows:
        stmts.append(("INSERT INTO journal VALUES (?,?,?,?,?,?,?)", (r[0] + 1, *r[1:])))
    tamper(sold_ledger, *stmts)
    verify_fails_at(sold_ledger, 6)


def test_appended_row_with_wrong_link_is_named(sold_ledger: Path) -> None:
    """A row appended after the head with a made-up prev_hash is caught."""
    tamper(sold_ledger, ("INSERT INTO journal VALUES (12, '2026-01-01T00:00:00.000+00:00', 'cash.deposit', 'x', '{}', ?, ?)",
                         ("f" * 64, "e" * 64)))
    verify_fails_at(sold_ledger, 12)
