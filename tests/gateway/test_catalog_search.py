"""Catalog name search: whole words before prefixes, the word being typed, limits, and the v2 prefix-index migration."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.ledger import Ledger
from gateway.pos import catalog as catalog_mod
from gateway.pos.catalog import Catalog, Product

NAMES = ["Milch frisch", "Milchreis", "Vollmilch", "Bio Milch", "Bio Mehl", "Mild Senf", "Käse mild", "Kaffee Crema"]


def products() -> list[Product]:
    """One product per name, codes 1000.."""
    return [Product(str(1000 + i), n, 2, 100 + i, "piece") for i, n in enumerate(NAMES)]


@pytest.fixture
def cat(tmp_path: Path) -> Iterator[Catalog]:
    """A catalog with the names above."""
    led = Ledger(tmp_path / "ledger.db")
    c = Catalog(led)
    led.open()
    led.write_sync(lambda txn: Catalog.upsert(txn, products()))
    yield c
    led.close()


def names(found: list[Product]) -> list[str]:
    """Names in result order."""
    return [p.name for p in found]


def test_whole_word_matches_come_before_prefix_matches(cat: Catalog) -> None:
    """'milch' lists the products with the word milch first, then those with words starting with it."""
    found = names(cat.search("milch"))
    assert set(found[:2]) == {"Milch frisch", "Bio Milch"}
    assert set(found[:3]) == {"Milch frisch", "Bio Milch", "Milchreis"}
    assert found[3:] == ["Vollmilch"]  # a part of a compound word comes last, through the trigram index


def test_the_word_being_typed_is_a_prefix(cat: Catalog) -> None:
    """Short prefixes (served by the prefix index) and longer ones both find their words."""
    assert set(names(cat.search("mi"))) == {"Milch frisch", "Milchreis", "Bio Milch", "Mild Senf", "Käse mild"}
    assert set(names(cat.search("milc"))) == {"Milch frisch", "Milchreis", "Bio Milch", "Vollmilch"}
    assert set(names(cat.search("kaff"))) == {"Kaffee Crema"}


def test_all_words_must_match(cat: Catalog) -> None:
    """Several words narrow the result; earlier words may be prefixes too."""
    assert names(cat.search("bio mi")) == ["Bio Milch"]
    assert names(cat.search("bi me")) == ["Bio Mehl"]
    assert cat.search("bio senf") == []


def test_limit_and_no_duplicates(cat: Catalog) -> None:
    """A product matched by several passes appears once; the limit holds."""
    found = cat.search("mil", 3)
    assert len(found) == 3
    assert len({p.code for p in cat.search("mil", 100)}) == len(cat.search("mil", 100))


def test_diacritics_and_punctuation(cat: Catalog) -> None:
    """The unicode61 tokenizer folds 'ä'; quotes and operators in the query are just text."""
    assert names(cat.search("käse")) == ["Käse mild"]
    assert names(cat.search("kase")) == ["Käse mild"]
    assert cat.search('"') == []
    assert cat.search('senf" OR "bio') == []  # three words, all required: not an FTS OR
    assert names(cat.search("senf*")) == ["Mild Senf"]


def test_v2_migration_rebuilds_the_index_of_an_existing_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ledger created with schema v1 gets the prefix index on open and still finds every product."""
    monkeypatch.setattr(catalog_mod, "SCHEMA", catalog_mod.SCHEMA[:1])
    monkeypatch.setattr(catalog_mod, "VERSION_SQL", "SELECT 0")  # v1 had no catalog version
    led = Ledger(tmp_path / "ledger.db")
    Catalog(led)
    led.open()
    led.write_sync(lambda txn: Catalog.upsert(txn, products()))
    led.close()
    monkeypatch.undo()
    led = Ledger(tmp_path / "ledger.db")
    cat = Catalog(led)
    led.open()
    try:
        assert led.query_one("SELECT version FROM schema_versions WHERE component='catalog'") == len(catalog_mod.SCHEMA)
        sql: Any = led.query_one("SELECT sql FROM sqlite_master WHERE name='products_fts'")
        assert "prefix='2 3 4'" in sql
        assert set(names(cat.search("mi"))) == {"Milch frisch", "Milchreis", "Bio Milch", "Mild Senf", "Käse mild"}
        led.write_sync(lambda txn: Catalog.upsert(txn, [Product("2000", "Mineralwasser", 1, 59, "piece")]))
        assert "Mineralwasser" in names(cat.search("min"))  # the triggers feed the new index
    finally:
        led.close()


def test_sale_prices_follow_every_catalog_change_despite_the_cache(tmp_path: Path) -> None:
    """Cached products are dropped on any change of ``products``: this process's writes at once,
    another process's import (a second connection) after the re-read interval; a rolled-back
    change never shows."""
    import sqlite3
    import time

    led = Ledger(tmp_path / "ledger.db")
    cat = Catalog(led)
    led.open()
    try:
        led.write_sync(lambda txn: Catalog.upsert(txn, products()))
        code = products()[0].code
        cat.recheck_s = 3600
        first = cat.lookup_many([code])[code].price
        assert cat.lookup_many([code])[code].price == first  # served from the cache
        led.write_sync(lambda txn: txn.execute("UPDATE products SET price = price + 1 WHERE code = ?", (code,)))
        assert cat.lookup_many([code])[code].price == first + 1
        other = sqlite3.connect(tmp_path / "ledger.db", isolation_level=None)  # e.g. `storegw catalog import`
        other.execute("UPDATE products SET price = 4242 WHERE code = ?", (code,))
        other.close()
        cat.recheck_s = 0.2  # another process's change shows once the version is read again
        cat.lookup_many([code])
        deadline = time.monotonic() + 5
        while cat.lookup_many([code])[code].price != 4242:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        cat.recheck_s = 3600  # this process's writes never wait for a re-read

        def rolled_back(txn: Any) -> None:
            txn.execute("UPDATE products SET price = 1 WHERE code = ?", (code,))
            # Inside the transaction the change is visible, but never cached.
            assert cat.lookup_many([code], txn.conn)[code].price == 1
            raise RuntimeError("abort")

        with pytest.raises(RuntimeError):
            led.write_sync(rolled_back)
        assert cat.lookup_many([code])[code].price == 4242
        led.write_sync(lambda txn: txn.execute("DELETE FROM products WHERE code = ?", (code,)))
        assert cat.lookup_many([code]) == {}
    finally:
        led.close()


async def test_price_change_through_the_group_commit_shows_at_once(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "ledger.db")
    cat = Catalog(led)
    led.open()
    try:
        await led.write(lambda txn: Catalog.upsert(txn, products()))
        code = products()[0].code
        cat.recheck_s = 3600
        before = cat.lookup_many([code])[code].price
        await led.write(lambda txn: txn.execute("UPDATE products SET price = price + 5 WHERE code = ?", (code,)))
        assert cat.lookup_many([code])[code].price == before + 5
    finally:
        led.close()
