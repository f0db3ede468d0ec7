"""GoBD archive: verification of the journal and its TSE signatures, and the retention bundle.

:func:`verify_ledger` checks the journal's hash chain and re-verifies every TSE signature stored
in it (rebuilding each Finish log message from the receipt's ``tse`` object and checking it with
the public key, as an auditor's QR checker does, fact sheet §10), and the checksums of the TSE
exports referenced by closings. :func:`export_archive` writes a self-describing bundle for the
retention period (GoBD, §147 AO): the journal as JSONL, its chain head, the TSE export, the
DSFinV-K export of every closed day, a README and SHA-256 checksums; :func:`verify_bundle`
checks such a bundle without the gateway.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from drivers.tse import Tse, TseError, TseTransaction
from drivers.tse.verify import raw_point, verify_transaction
from gateway.config import Config
from gateway.ledger import Ledger
from gateway.ledger.journal import verify_rows

from .closing import closings, fiscal_dir
from .dsfinvk import write_export
from .journal_records import parse_time

README = """# storegw archive bundle

Written by `storegw archive export`; checked by `storegw archive verify --bundle DIR`.

- `journal.jsonl`: every journal row in order, one JSON object a line with the keys
  `seq`, `ts`, `type`, `aggregate`, `payload` (the canonical JSON text exactly as hashed),
  `prev_hash` and `hash`. Row n's `hash` is SHA-256 (hex) of `prev_hash` followed by the
  canonical JSON array `[seq, ts, type, aggregate, payload]` (sorted keys, no spaces, UTF-8);
  the first row's `prev_hash` is 64 zeros.
- `HEAD.json`: seq and hash of the last row (the chain head at export time).
- `tse-export.tar`: the TSE's TAR export (TR-03153 log messages and certificate).
- `dsfinvk/`: the DSFinV-K export of every closed day (CSV files, `index.xml`, DTD).
- `SHA256SUMS`: SHA-256 of every other file (format of `sha256sum`).

Receipts carry a `tse` object; its signature verifies with `public_key` over the TR-03151
FinishTransaction log message rebuilt from the object's values.
"""


@dataclass(frozen=True)
class Problem:
    """One verification finding; ``seq`` names the journal row when there is one."""

    seq: int | None
    kind: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)


def tse_transaction_of(tse: dict[str, Any]) -> TseTransaction:
    """The Finish result a stored ``tse`` object describes (for signature verification)."""
    end = parse_time(tse["end"])
    return TseTransaction(
        number=int(tse["transaction_number"]), client_id=str(tse["client_id"]), operation="Finish",
        signature_counter=int(tse["signature_counter"]), start_time=parse_time(tse["start"]), log_time=end,
        end_time=end, signature=str(tse["signature"]), serial_number=str(tse["serial_number"]),
        public_key=str(tse["public_key"]), signature_algorithm=str(tse["signature_algorithm"]),
        log_time_format=str(tse["log_time_format"]), process_type=str(tse["process_type"]),
        process_data=str(tse["process_data"]), certified=bool(tse.get("certified", True)),
    )  # fmt: skip


def check_signatures(entries: Iterable[tuple[int, dict[str, Any]]]) -> tuple[int, list[Problem]]:
    """Verify the ``tse`` object of every ``(seq, payload)``; returns (signatures checked, problems)."""
    checked = 0
    problems: list[Problem] = []
    for seq, payload in entries:
        tse = payload.get("tse")
        if not isinstance(tse, dict) or tse.get("failed") or "signature" not in tse:
            continue
        checked += 1
        try:
            tx = tse_transaction_of(tse)
            verify_transaction(tx)
        except (TseError, KeyError, ValueError, TypeError) as err:
            problems.append(Problem(seq, "tse-signature", f"{type(err).__name__}: {err}"))
            continue
        if hashlib.sha256(raw_point(base64.b64decode(tx.public_key))).hexdigest() != tx.serial_number:
            problems.append(Problem(seq, "tse-serial", "serial number is not the SHA-256 of the public key"))
    return checked, problems


def verify_ledger(ledger: Ledger, data_dir: Path) -> dict[str, Any]:
    """Hash chain + every stored TSE signature + the closings' TSE export checksums."""
    chain = ledger.verify()
    problems: list[Problem] = []
    if not chain.ok:
        problems.append(Problem(chain.first_bad_seq, "hash-chain", chain.reason))
    rows = ledger.query("SELECT seq, type, payload FROM journal WHERE payload LIKE '%\"tse\"%' ORDER BY seq")
    checked, bad = check_signatures((seq, json.loads(raw)) for seq, _type, raw in rows)
    problems += bad
    for seq, raw in ledger.query("SELECT seq, payload FROM journal WHERE type='day.closed' ORDER BY seq"):
        export = json.loads(raw).get("tse_export") or {}
        if "file" not in export:
            continue
        path = fiscal_dir(data_dir) / export["file"]
        if not path.exists():
            problems.append(Problem(seq, "tse-export", f"{path} is missing"))
        elif hashlib.sha256(path.read_bytes()).hexdigest() != export["sha256"]:
            problems.append(Problem(seq, "tse-export", f"{path} does not match its journaled SHA-256"))
    return {"ok": not problems, "journal": chain.to_dict(), "signatures_checked": checked,
            "problems": [p.to_dict() for p in problems]}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def export_archive(ledger: Ledger, config: Config, tse: Tse | None, out: Path) -> list[Path]:
    """Write the retention bundle into ``out`` (created; must be empty or absent)."""
    tar: bytes | str | None = None
    if tse is not None:
        try:
            tar = await tse.export_tar()
        except TseError as err:
            tar = f"{type(err).__name__}: {err}"
    return write_bundle(ledger, config, tar, out)


def write_bundle(ledger: Ledger, config: Config, tse_tar: bytes | str | None, out: Path) -> list[Path]:
    """The synchronous part of :func:`export_archive`; ``tse_tar`` is the TAR, an error text or None."""
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty")
    written: list[Path] = []
    head = {"seq": 0, "hash": ""}
    with (out / "journal.jsonl").open("w", encoding="utf-8") as fh:
        for seq, ts, type_, aggregate, payload, prev_hash, h in ledger.query(
                "SELECT seq, ts, type, aggregate, payload, prev_hash, hash FROM journal ORDER BY seq"):
            fh.write(json.dumps({"seq": seq, "ts": ts, "type": type_, "aggregate": aggregate, "payload": payload,
                                 "prev_hash": prev_hash, "hash": h}, ensure_ascii=False) + "\n")
            head = {"seq": seq, "hash": h}
    written.append(out / "journal.jsonl")
    (out / "HEAD.json").write_text(json.dumps(head) + "\n", "utf-8")
    written.append(out / "HEAD.json")
    if isinstance(tse_tar, bytes):
        (out / "tse-export.tar").write_bytes(tse_tar)
        written.append(out / "tse-export.tar")
    elif tse_tar is not None:
        (out / "tse-export.error").write_text(tse_tar + "\n", "utf-8")
        written.append(out / "tse-export.error")
    done = closings(ledger, config)
    if done:
        written += write_export(done, out / "dsfinvk")
    (out / "README.md").write_text(README, "utf-8")
    written.append(out / "README.md")
    sums = "".join(f"{_sha256(p)}  {p.relative_to(out).as_posix()}\n" for p in written)
    (out / "SHA256SUMS").write_text(sums, "utf-8")
    return [*written, out / "SHA256SUMS"]


def verify_bundle(bundle: Path) -> dict[str, Any]:
    """Check an archive bundle: checksums, the journal's hash chain and head, every TSE signature."""
    problems: list[Problem] = []
    sums = bundle / "SHA256SUMS"
    if not sums.exists():
        return {"ok": False, "problems": [Problem(None, "checksums", "SHA256SUMS is missing").to_dict()]}
    for line in sums.read_text("utf-8").splitlines():
        digest, _, name = line.partition("  ")
        path = bundle / name
        if not path.exists():
            problems.append(Problem(None, "checksums", f"{name} is missing"))
        elif _sha256(path) != digest:
            problems.append(Problem(None, "checksums", f"{name} does not match SHA256SUMS"))
    rows: list[tuple[Any, ...]] = []
    with (bundle / "journal.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            rows.append((r["seq"], r["ts"], r["type"], r["aggregate"], r["payload"], r["prev_hash"], r["hash"]))
    chain = verify_rows(rows)
    if not chain.ok:
        problems.append(Problem(chain.first_bad_seq, "hash-chain", chain.reason))
    head = json.loads((bundle / "HEAD.json").read_text("utf-8"))
    if rows and (head["seq"], head["hash"]) != (rows[-1][0], rows[-1][6]):
        problems.append(Problem(head["seq"], "head", "HEAD.json does not match the last journal row"))
    checked, bad = check_signatures((r[0], json.loads(r[4])) for r in rows)
    problems += bad
    return {"ok": not problems, "journal": chain.to_dict(), "signatures_checked": checked,
            "problems": [p.to_dict() for p in problems]}
