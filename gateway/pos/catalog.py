"""Product catalog: products with GTIN/PLU codes, gross price in cents, VAT id, unit; import and search.

The catalog is master data, not store state: imports and HQ price pushes replace rows in
``products`` and leave one summarising journal entry (``catalog.imported``) for the audit trail.
Name search uses two FTS5 indexes: words with prefix indexes (what the cashier types, diacritics
folded) and trigrams for a part of a German compound word ("schoko" in "Vollmilchschokolade"),
so a million products still answer in milliseconds; code lookups use the primary key.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from drivers.barcode import InvalidBarcode
from drivers.barcode import parse as parse_barcode
from drivers.barcode.checksums import gs1_check_digit_ok
from gateway.errors import BadRequest, NotFound
from gateway.ledger import Ledger, Txn
from gateway.ledger.store import now_iso
from gateway.pos.money import VAT_RATES_BP

SCHEMA = [
    """
    CREATE TABLE IF NOT EXISTS products (
        code TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        vat_id INTEGER NOT NULL,
        price INTEGER NOT NULL,
        unit TEXT NOT NULL CHECK (unit IN ('piece', 'kg')),
        grp TEXT NOT NULL DEFAULT '',
        updated TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS products_grp ON products(grp);
    CREATE TABLE IF NOT EXISTS product_codes (code TEXT PRIMARY KEY, product TEXT NOT NULL);
    CREATE INDEX IF NOT EXISTS product_codes_product ON product_codes(product);
    CREATE VIRTUAL TABLE IF NOT EXISTS products_fts USING fts5(name, content='products', content_rowid='rowid', tokenize='trigram');
    CREATE TRIGGER IF NOT EXISTS products_ai AFTER INSERT ON products BEGIN
        INSERT INTO products_fts(rowid, name) VALUES (new.rowid, new.name);
    END;
    CREATE TRIGGER IF NOT EXISTS products_ad AFTER DELETE ON products BEGIN
        INSERT INTO products_fts(products_fts, rowid, name) VALUES ('delete', old.rowid, old.name);
    END;
    CREATE TRIGGER IF NOT EXISTS products_au AFTER UPDATE ON products BEGIN
        INSERT INTO products_fts(products_fts, rowid, name) VALUES ('delete', old.rowid, old.name);
        INSERT INTO products_fts(rowid, name) VALUES (new.rowid, new.name);
    END;
    """,
    # v2: a word index with prefix indexes for 2-4 characters, so the prefix query of a word being
    # typed ("mil") answers from an index instead of merging the doclists of every matching term.
    """
    DROP TABLE IF EXISTS products_fts;
    CREATE VIRTUAL TABLE products_fts USING fts5(name, content='products', content_rowid='rowid', prefix='2 3 4');
    INSERT INTO products_fts(products_fts) VALUES ('rebuild');
    """,
    # v3: a trigram index beside it for parts of German compound words ("milch" in "Vollmilch"),
    # used after the word matches; the triggers now feed both indexes.
    """
    CREATE VIRTUAL TABLE IF NOT EXISTS products_tri USING fts5(name, content='products', content_rowid='rowid', tokenize='trigram');
    INSERT INTO products_tri(products_tri) VALUES ('rebuild');
    DROP TRIGGER IF EXISTS products_ai;
    DROP TRIGGER IF EXISTS products_ad;
    DROP TRIGGER IF EXISTS products_au;
    CREATE TRIGGER products_ai AFTER INSERT ON products BEGIN
        INSERT INTO products_fts(rowid, name) VALUES (new.rowid, new.name);
        INSERT INTO products_tri(rowid, name) VALUES (new.rowid, new.name);
    END;
    CREATE TRIGGER products_ad AFTER DELETE ON products BEGIN
        INSERT INTO products_fts(products_fts, rowid, name) VALUES ('delete', old.rowid, old.name);
        INSERT INTO products_tri(products_tri, rowid, name) VALUES ('delete', old.rowid, old.name);
    END;
    CREATE TRIGGER products_au AFTER UPDATE OF name ON products BEGIN
        INSERT INTO products_fts(products_fts, rowid, name) VALUES ('delete', old.rowid, old.name);
        INSERT INTO products_fts(rowid, name) VALUES (new.rowid, new.name);
        INSERT INTO products_tri(products_tri, rowid, name) VALUES ('delete', old.rowid, old.name);
        INSERT INTO products_tri(rowid, name) VALUES (new.rowid, new.name);
    END;
    """,
    # v4: a version number that every change of ``products`` raises, from any connection or
    # process (a ``catalog import`` while the daemon runs, raw SQL): the daemon's product cache
    # is valid only while it is unchanged.
    """
    CREATE TABLE IF NOT EXISTS catalog_version (id INTEGER PRIMARY KEY CHECK (id = 1), v INTEGER NOT NULL);
    INSERT OR IGNORE INTO catalog_version(id, v) VALUES (1, 0);
    CREATE TRIGGER IF NOT EXISTS catalog_version_ai AFTER INSERT ON products BEGIN
        UPDATE catalog_version SET v = v + 1 WHERE id = 1;
    END;
    CREATE TRIGGER IF NOT EXISTS catalog_version_ad AFTER DELETE ON products BEGIN
        UPDATE catalog_version SET v = v + 1 WHERE id = 1;
    END;
    CREATE TRIGGER IF NOT EXISTS catalog_version_au AFTER UPDATE ON products BEGIN
        UPDATE catalog_version SET v = v + 1 WHERE id = 1;
    END;
    """,
]

CODE_RE = re.compile(r"^[0-9A-Za-z-]{1,32}$")
MAX_PRICE = 100_000_000
CACHE_MAX = 50_000  # products kept in memory for sales; a store's fast movers fit many times over
VERSION_SQL = "SELECT v FROM catalog_version WHERE id = 1"


@dataclass(frozen=True, slots=True)
class Product:
    """One sellable product; ``price`` is gross cents per piece or per kg."""

    code: str
    name: str
    vat_id: int
    price: int
    unit: str
    group: str = ""
    codes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """API form (``code``, ``name``, ``price``, ``vat_id``, ``unit``, ``group``)."""
        d = asdict(self)
        d["codes"] = list(self.codes)
        return d


@dataclass(frozen=True, slots=True)
class Resolved:
    """A product found for a code, with the values its barcode carried."""

    product: Product
    weight_g: int | None = None
    price_cents: int | None = None
    count: int | None = None
    barcode_kind: str = ""


@dataclass
class ImportResult:
    """Outcome of a catalog import."""

    imported: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    sha256: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"imported": self.imported, "errors": [{"line": n, "error": e} for n, e in self.errors], "sha256": self.sha256}


def validate_product(raw: dict[str, Any]) -> Product:
    """Build a product from a loosely typed record; raises BadRequest naming the field."""

    def need(key: str) -> Any:
        v = raw.get(key)
        if v is None or v == "":
            raise BadRequest(f"missing field '{key}'")
        return v

    code = str(need("code")).strip()
    if not CODE_RE.match(code):
        raise BadRequest(f"code {code!r} must be 1-32 letters, digits or '-'")
    if code.isdigit() and len(code) in (8, 12, 13, 14) and not gs1_check_digit_ok(code):
        raise BadRequest(f"code {code} has a wrong GTIN check digit")
    name = str(need("name")).strip()
    if not 1 <= len(name) <= 200:
        raise BadRequest("name must be 1-200 characters")
    vat_id = _int(need("vat_id"), "vat_id")
    if vat_id not in VAT_RATES_BP:
        raise BadRequest(f"vat_id {vat_id} is not a DSFinV-K VAT id ({', '.join(map(str, VAT_RATES_BP))})")
    price = _int(need("price"), "price")
    if not 0 <= price <= MAX_PRICE:
        raise BadRequest(f"price {price} must be 0..{MAX_PRICE} cents")
    unit = str(raw.get("unit") or "piece").strip()
    if unit not in ("piece", "kg"):
        raise BadRequest(f"unit {unit!r} must be 'piece' or 'kg'")
    group = str(raw.get("group") or "").strip()[:64]
    extra = raw.get("codes") or ()
    if isinstance(extra, str):
        extra = [c for c in re.split(r"[ ;|]", extra) if c]
    codes = tuple(str(c).strip() for c in extra)
    for c in codes:
        if not CODE_RE.match(c):
            raise BadRequest(f"extra code {c!r} is invalid")
    return Product(code, name, vat_id, price, unit, group, codes)


def _int(v: Any, key: str) -> int:
    if isinstance(v, bool):
        raise BadRequest(f"{key} must be an integer")
    if isinstance(v, int):
        return v
    if isinstance(v, str) and re.fullmatch(r"-?\d{1,15}", v.strip()):
        return int(v.strip())
    raise BadRequest(f"{key} must be an integer (cents for prices), got {v!r}")


def read_catalog_file(path: Path) -> bytes:
    """The bytes of an import file; BadRequest naming the file when it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as err:
        raise BadRequest(f"cannot read {path}: {err.strerror or err}") from None


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), else Windows-1252 as spreadsheet programs write CSV in Germany."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as err:
        raise BadRequest(f"the file is neither UTF-8 nor Windows-1252 text (byte {data[err.start]:#04x} at offset {err.start})") from None


def read_records(path: Path, data: bytes) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """Yield ``(line, record)`` from the bytes of a CSV or JSON file; a string record is a parse error."""
    text = decode_text(data)
    if path.suffix.lower() == ".json" or text.lstrip().startswith(("[", "{")):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as err:
            yield err.lineno, f"invalid JSON: {err.msg}"
            return
        items = doc.get("products") if isinstance(doc, dict) else doc
        if not isinstance(items, list):
            yield 1, "JSON must be a list of products or {\"products\": [...]}"
            return
        for i, item in enumerate(items, start=1):
            yield i, item if isinstance(item, dict) else f"item {i} is not an object"
        return
    reader = csv.DictReader(io.StringIO(text))
    for rec in reader:
        line = reader.line_num
        if None in rec:
            yield line, "too many columns"
            continue
        yield line, dict(rec)


class Catalog:
    """Product lookups on the ledger's read connection; writes through the ledger's writer."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        ledger.add_migrations("catalog", list(SCHEMA))
        ledger.add_commit_probe("catalog_version", VERSION_SQL)
        # Products by primary code, valid while the catalog version seen stays ``_cache_v``.
        self._cache: dict[str, Product] = {}
        self._cache_v: tuple[Any, Any] | None = None
        self._read_v: Any = None
        self._read_at = -1e9
        self.recheck_s = 1.0

    @staticmethod
    def _from_row(row: tuple[Any, ...]) -> Product:
        code, name, vat_id, price, unit, grp = row
        return Product(code, name, vat_id, price, unit, grp)

    def lookup(self, code: str, conn: sqlite3.Connection | None = None) -> Product:
        """The product for a primary or extra code; raises NotFound."""
        c = conn or self.ledger.reader
        row = c.execute("SELECT code, name, vat_id, price, unit, grp FROM products WHERE code=?", (code,)).fetchone()
        if row is None:
            alias = c.execute("SELECT product FROM product_codes WHERE code=?", (code,)).fetchone()
            if alias:
                row = c.execute("SELECT code, name, vat_id, price, unit, grp FROM products WHERE code=?", alias).fetchone()
        if row is None:
            raise NotFound(f"unknown product code {code!r}", code_value=code)
        return self._from_row(row)

    def lookup_many(self, codes: list[Any], conn: sqlite3.Connection | None = None) -> dict[str, Product]:
        """Products stored under these primary codes (the common case of a sale).

        On the read connection the answer comes from a cache that is dropped whenever the
        catalog version changes; a trigger raises it on any write to ``products``. This
        process's writes report the new version as part of their commit (a ledger commit
        probe), so they are seen at once and without a query; changes by another process (a
        ``storegw catalog import`` while the daemon runs) are seen by reading the version at
        most ``recheck_s`` later. Rows are always read after the version they are filed under,
        so a change committed in between costs a reload, never a stale price. Lookups on
        another connection (a write transaction, whose uncommitted changes must not leak into
        the cache) always query.
        """
        wanted = sorted({c for c in codes if isinstance(c, str) and c})[:500]
        if not wanted:
            return {}
        if conn is not None:
            return self._query_many(conn, wanted)
        reader = self.ledger.reader
        now = time.monotonic()
        if now - self._read_at >= self.recheck_s:
            self._read_v = reader.execute(VERSION_SQL).fetchone()[0]
            self._read_at = now
        version = (self.ledger.probed.get("catalog_version"), self._read_v)
        if version != self._cache_v:
            self._cache.clear()
            self._cache_v = version
        cache = self._cache
        found = {c: cache[c] for c in wanted if c in cache}
        if len(found) < len(wanted):
            fresh = self._query_many(reader, [c for c in wanted if c not in found])
            if len(cache) + len(fresh) > CACHE_MAX:
                cache.clear()
            cache.update(fresh)
            found.update(fresh)
        return found

    def _query_many(self, conn: sqlite3.Connection, codes: list[str]) -> dict[str, Product]:
        rows = conn.execute(
            f"SELECT code, name, vat_id, price, unit, grp FROM products WHERE code IN ({','.join('?' * len(codes))})", codes
        ).fetchall()
        return {r[0]: self._from_row(r) for r in rows}

    def resolve(self, code: str, conn: sqlite3.Connection | None = None) -> Resolved:
        """The product for a scanned or typed code, with what an in-store barcode carries.

        Tries the code as stored, then the barcode's GTIN forms, then the article number of a
        German in-store code (prefix 2x: GS1 Germany layouts), whose weight, price or count comes
        from the label. A code with a wrong check digit is refused: it was misread.
        """
        try:
            return Resolved(self.lookup(code, conn))
        except NotFound:
            pass
        try:
            bc = parse_barcode(code)
        except InvalidBarcode as err:
            raise NotFound(f"unknown product code {code!r} ({err.reason})", code_value=code) from None
        if bc.check_digits_valid is False:
            raise BadRequest(f"code {code} has a wrong check digit: {', '.join(bc.problems)}", field="code")
        candidates: list[str] = []
        if bc.kind.startswith("in_store") and bc.item_code:
            candidates += [bc.item_code, bc.item_code[2:6], bc.item_code[2:6].lstrip("0")]
        if bc.gtin:
            candidates += [bc.gtin, bc.gtin.zfill(13), bc.gtin.zfill(14), bc.gtin.lstrip("0")]
        for cand in candidates:
            if not cand:
                continue
            try:
                product = self.lookup(cand, conn)
            except NotFound:
                continue
            return Resolved(product, bc.weight_g, bc.price_cents, bc.count, bc.kind)
        raise NotFound(f"unknown product code {code!r}", code_value=code)

    def search(self, q: str, limit: int = 20) -> list[Product]:
        """Products whose code starts with ``q`` (digits) or whose name has words starting with ``q``."""
        q = q.strip()
        limit = max(1, min(limit, 100))
        c = self.ledger.reader
        if not q:
            rows = c.execute("SELECT code, name, vat_id, price, unit, grp FROM products ORDER BY code LIMIT ?", (limit,)).fetchall()
            return [self._from_row(r) for r in rows]
        if q.isdigit():
            rows = c.execute(
                "SELECT code, name, vat_id, price, unit, grp FROM products WHERE code >= ? AND code < ? ORDER BY code LIMIT ?",
                (q, q + "\x7f", limit),
            ).fetchall()
            if rows:
                return [self._from_row(r) for r in rows]
        tokens = [t for t in re.findall(r"\w+", q) if t]
        if not tokens:
            return []
        words = ['"' + t.replace('"', "") + '"' for t in tokens]
        found: dict[str, Product] = {}
        # Whole words first: their doclists stream and LIMIT stops early. A prefix query must merge
        # the doclists of all matching terms before its first row, so it only runs when the whole
        # words do not fill the page: first for the word being typed (the last one), then for all
        # words. Last, parts of compound words through the trigram index (words of 3+ letters).
        passes = [("products_fts", " AND ".join(words)), ("products_fts", " AND ".join([*words[:-1], words[-1] + "*"]))]
        if len(words) > 1:
            passes.append(("products_fts", " AND ".join(w + "*" for w in words)))
        if all(len(t) >= 3 for t in tokens):
            passes.append(("products_tri", " AND ".join(words)))
        for table, match in passes:
            rows = c.execute(
                f"SELECT p.code, p.name, p.vat_id, p.price, p.unit, p.grp FROM {table} f "
                f"JOIN products p ON p.rowid = f.rowid WHERE {table} MATCH ? LIMIT ?",
                (match, limit),
            ).fetchall()
            for r in rows:
                found.setdefault(r[0], self._from_row(r))
            if len(found) >= limit:
                break
        return list(found.values())[:limit]

    def count(self) -> int:
        """Number of products."""
        return int(self.ledger.query_one("SELECT COUNT(*) FROM products") or 0)

    @staticmethod
    def upsert(txn: Txn, products: Iterable[Product]) -> int:
        """Insert or replace products inside a write transaction; returns how many."""
        now = now_iso()
        n = 0
        for p in products:
            txn.execute(
                "INSERT INTO products(code, name, vat_id, price, unit, grp, updated) VALUES (?,?,?,?,?,?,?) "
                "ON CONFLICT(code) DO UPDATE SET name=excluded.name, vat_id=excluded.vat_id, price=excluded.price, "
                "unit=excluded.unit, grp=excluded.grp, updated=excluded.updated",
                (p.code, p.name, p.vat_id, p.price, p.unit, p.group, now),
            )
            for c in p.codes:
                txn.execute("INSERT OR REPLACE INTO product_codes(code, product) VALUES (?, ?)", (c, p.code))
            n += 1
        return n

    def import_file(self, path: Path, dry_run: bool = False) -> ImportResult:
        """Validate every record of a CSV/JSON file, import the valid ones, report bad ones by line."""
        data = read_catalog_file(path)
        result = ImportResult(sha256=hashlib.sha256(data).hexdigest())
        good: list[Product] = []
        seen: set[str] = set()
        for line, rec in read_records(path, data):
            if isinstance(rec, str):
                result.errors.append((line, rec))
                continue
            try:
                p = validate_product(rec)
            except BadRequest as err:
                result.errors.append((line, err.detail))
                continue
            if p.code in seen:
                result.errors.append((line, f"duplicate code {p.code}"))
                continue
            seen.add(p.code)
            good.append(p)
        if dry_run or not good:
            return result

        def fn(txn: Txn) -> int:
            n = self.upsert(txn, good)
            txn.append(
                "catalog.imported",
                "catalog",
                {"source": path.name, "sha256": result.sha256, "products": n, "rejected": len(result.errors)},
            )
            return n

        result.imported = self.ledger.write_sync(fn)
        return result
