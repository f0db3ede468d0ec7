"""Customers and DSGVO: personal data outside the journal, export of everything, erasure keeps the chain valid."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.errors import BadRequest, Conflict
from tests.gateway.omni.conftest import PEN, FakeHq, Omni, build


async def test_register_lookup_export_erase(om: Omni) -> None:
    c = await om.omni.customers.register({"name": "Erika Mustermann", "email": "Erika@Example.org", "phone": "+4930123", "card": "K-77"})
    cid = c["id"]
    assert om.omni.customers.lookup(email="erika@example.org")[0]["id"] == cid
    assert om.omni.customers.lookup(card="K-77")[0]["name"] == "Erika Mustermann"
    with pytest.raises(Conflict):
        await om.omni.customers.register({"card": "K-77"})
    with pytest.raises(BadRequest):
        await om.omni.customers.register({"birthday": "1970"})
    await om.gw.sales.finish(cashier="c", lines=[{"code": PEN, "qty": 5}], payments=[{"method": "cash", "amount": 1000}],
                             extra={"customer": cid})
    journal = "\n".join(p for (p,) in om.gw.ledger.query("SELECT payload FROM journal"))
    assert "Mustermann" not in journal and "example.org" not in journal and cid in journal
    exp = om.omni.customers.export(cid)
    assert exp["customer"]["email"] == "erika@example.org"
    assert {e["type"] for e in exp["journal"]} >= {"customer.registered", "loyalty.earned", "sale.finished"}
    assert exp["loyalty"]["balance"] == 9
    await om.omni.customers.erase(cid)
    after = om.omni.customers.export(cid)
    assert after["customer"]["name"] is None and after["customer"]["erased_at"]
    rows = om.gw.ledger.query("SELECT * FROM customers")
    assert "Mustermann" not in repr(rows) and "K-77" not in repr(rows)
    assert om.gw.ledger.verify().ok
    assert om.omni.customers.lookup(card="K-77") == []


def test_cli_export_and_erase(tmp_path: Path) -> None:
    gw, omni = build(tmp_path / "d", FakeHq())
    gw.open()
    c = asyncio.run(omni.customers.register({"name": "Max Muster", "email": "max@example.org"}))
    gw.ledger.close()
    base = [sys.executable, "-c", "import sys; from gateway.cli import main; sys.exit(main(sys.argv[1:]))", "--data-dir", str(tmp_path / "d")]
    out = subprocess.run([*base, "customers", "export", c["id"]], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["customer"]["name"] == "Max Muster"
    out = subprocess.run([*base, "customers", "erase", c["id"]], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    out = subprocess.run([*base, "ledger", "verify"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and json.loads(out.stdout)["ok"]
    gw.ledger.open()
    try:
        assert omni.customers.get(c["id"])["email"] is None
        assert gw.ledger.query_one("SELECT COUNT(*) FROM journal WHERE type='customer.erased'") == 1
    finally:
        gw.ledger.close()
