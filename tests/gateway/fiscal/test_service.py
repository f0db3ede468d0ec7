"""The fiscal component in the real sale flow: every receipt kind signed, carts, outage, restart, HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from drivers.tse.verify import SignatureInvalid, verify_transaction
from gateway.fiscal.archive import tse_transaction_of
from gateway.fiscal.receipt import TRAINING_MARK, TSE_FAILURE_MARK
from gateway.fiscal.service import FiscalService, TseConfig

from .fiscal_gateway import APPLES, CHOC, CLIENT, PEN, FiscalGateway, journal_types, start_gateway, wait_entry

TSE_KEYS = {"process_type", "process_data", "transaction_number", "signature_counter", "start", "end", "signature",
            "serial_number", "public_key", "signature_algorithm", "qr_code"}


@pytest.fixture
async def fg(tmp_path: Path) -> AsyncIterator[FiscalGateway]:
    f = await start_gateway(tmp_path / "data")
    yield f
    await f.gw.stop()


def assert_signed(tse: dict[str, Any], process_data: str) -> None:
    """A complete tse object whose signature verifies with its public key."""
    assert TSE_KEYS <= set(tse), tse
    assert tse["process_type"] == "Kassenbeleg-V1"
    assert tse["process_data"] == process_data
    assert tse["qr_code"].startswith(f"V0;{CLIENT};Kassenbeleg-V1;{process_data};{tse['transaction_number']};")
    verify_transaction(tse_transaction_of(tse))


async def test_every_receipt_kind_is_signed_before_commit(fg: FiscalGateway) -> None:
    sales = fg.gw.sales
    # mixed VAT, split payment: 2 x 1.99 @19 % + 1.19 @7 % = 5.17; card 2.00, cash 4.00 -> change 0.83
    sale = await sales.finish(cashier="c", lines=[{"code": PEN, "qty": 2}, {"code": CHOC}],
                              payments=[{"method": "card", "amount": 200}, {"method": "cash", "amount": 400}])
    assert_signed(sale["tse"], "Beleg^3.98_1.19_0.00_0.00_0.00^3.17:Bar_2.00:Unbar")
    assert sale["fiscal"] == {"bon_type": "Beleg", "payment_types": ["ECKarte", "Bar"]}
    assert sales.receipt(sale["receipt_no"])["tse"] == sale["tse"]  # journaled with the receipt
    void = await sales.void(sale["receipt_no"], cashier="m")
    assert_signed(void["tse"], "Beleg^-3.98_-1.19_0.00_0.00_0.00^-3.17:Bar_-2.00:Unbar")
    weighed = await sales.finish(cashier="c", lines=[{"code": PEN}, {"code": APPLES, "weight_g": 1500, "weight_source": "scale"}],
                                 payments=[{"method": "cash", "amount": 600}])
    assert_signed(weighed["tse"], "Beleg^1.99_3.74_0.00_0.00_0.00^5.73:Bar")
    ret = await sales.return_items(weighed["receipt_no"], [{"line": 1, "qty": 1}], cashier="c")
    assert_signed(ret["tse"], "Beleg^-1.99_0.00_0.00_0.00_0.00^-1.99:Bar")
    dep = await sales.cash_move("deposit", 5000, cashier="m")
    assert_signed(dep["tse"], "Beleg^0.00_0.00_0.00_0.00_50.00^50.00:Bar")
    wd = await sales.cash_move("withdrawal", 1000, cashier="m")
    assert_signed(wd["tse"], "Beleg^0.00_0.00_0.00_0.00_-10.00^-10.00:Bar")
    training = await sales.finish(cashier="c", lines=[{"code": PEN}], payments=[{"method": "cash", "amount": 199}], training=True)
    assert_signed(training["tse"], "AVTraining^1.99_0.00_0.00_0.00_0.00^")
    numbers = [r["tse"]["transaction_number"] for r in (sale, void, weighed, ret, dep, wd, training)]
    assert numbers == sorted(numbers) and len(set(numbers)) == 7
    # a changed value no longer verifies: the check is real
    forged = dict(sale["tse"], process_data="Beleg^0.01_1.19_0.00_0.00_0.00^3.17:Bar_2.00:Unbar")
    with pytest.raises(SignatureInvalid):
        verify_transaction(tse_transaction_of(forged))


async def test_cart_starts_at_first_line_and_finishes_at_checkout(fg: FiscalGateway) -> None:
    cart = await fg.gw.carts.open("c")
    await fg.gw.carts.add_line(cart["id"], PEN)
    started = await wait_entry(fg.gw, "cart.tse_started", f"cart:{cart['id']}")
    await fg.gw.carts.add_line(cart["id"], CHOC)  # no second start
    receipt = await fg.gw.sales.finish(cashier="c", cart_id=cart["id"], payments=[{"method": "cash", "amount": 318}])
    assert receipt["tse"]["transaction_number"] == started["transaction_number"]
    assert receipt["tse"]["start"] == started["start"]
    assert_signed(receipt["tse"], "Beleg^1.99_1.19_0.00_0.00_0.00^3.18:Bar")
    assert journal_types(fg.gw).count("cart.tse_started") == 1


async def test_cancelled_cart_is_finished_as_abort(fg: FiscalGateway) -> None:
    cart = await fg.gw.carts.open("c")
    await fg.gw.carts.add_line(cart["id"], PEN)
    started = await wait_entry(fg.gw, "cart.tse_started", f"cart:{cart['id']}")
    await fg.gw.carts.cancel(cart["id"])
    aborted = await wait_entry(fg.gw, "cart.tse_aborted", f"cart:{cart['id']}")
    assert aborted["tse"]["transaction_number"] == started["transaction_number"]
    assert_signed(aborted["tse"], "AVBelegabbruch^0.00_0.00_0.00_0.00_0.00^")
    assert aborted["lines"][0]["code"] == PEN


async def test_tse_failure_mid_sale_marks_receipt_and_journals_outage(fg: FiscalGateway) -> None:
    cart = await fg.gw.carts.open("c")
    await fg.gw.carts.add_line(cart["id"], PEN)
    await wait_entry(fg.gw, "cart.tse_started", f"cart:{cart['id']}")
    fg.tse.set_failing("USB TSE unplugged")
    marked = await fg.gw.sales.finish(cashier="c", cart_id=cart["id"], payments=[{"method": "cash", "amount": 199}])
    assert marked["tse"]["failed"] is True and "USB TSE unplugged" in marked["tse"]["reason"]
    outage = await wait_entry(fg.gw, "tse.outage_started", "tse")
    assert "USB TSE unplugged" in outage["reason"]
    assert fg.svc.status()["state"] == "degraded"
    # the store keeps selling; nothing is signed while the outage lasts, even after the TSE is back
    fg.tse.set_failing(None)
    during = await fg.gw.sales.finish(cashier="c", lines=[{"code": CHOC}], payments=[{"method": "cash", "amount": 119}])
    assert during["tse"]["failed"] is True
    assert await fg.svc.recover() is True
    ended = await wait_entry(fg.gw, "tse.outage_ended", "tse")
    assert ended["start"] == outage["start"] and ended["end"] >= ended["start"]
    after = await fg.gw.sales.finish(cashier="c", lines=[{"code": CHOC}], payments=[{"method": "cash", "amount": 119}])
    assert_signed(after["tse"], "Beleg^0.00_1.19_0.00_0.00_0.00^1.19:Bar")
    assert fg.svc.status()["state"] == "ok"


async def test_counter_and_open_cart_survive_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    f = await start_gateway(data)
    first = await f.gw.sales.finish(cashier="c", lines=[{"code": PEN}], payments=[{"method": "cash", "amount": 199}])
    cart = await f.gw.carts.open("c")
    await f.gw.carts.add_line(cart["id"], CHOC)
    started = await wait_entry(f.gw, "cart.tse_started", f"cart:{cart['id']}")
    await f.gw.stop()

    g = await start_gateway(data, products=False)
    try:
        resumed = await g.gw.sales.finish(cashier="c", cart_id=cart["id"], payments=[{"method": "cash", "amount": 119}])
        assert resumed["tse"]["transaction_number"] == started["transaction_number"]
        assert_signed(resumed["tse"], "Beleg^0.00_1.19_0.00_0.00_0.00^1.19:Bar")
        nxt = await g.gw.sales.finish(cashier="c", lines=[{"code": PEN}], payments=[{"method": "cash", "amount": 199}])
        assert nxt["tse"]["transaction_number"] > started["transaction_number"] > first["tse"]["transaction_number"]
        assert nxt["tse"]["signature_counter"] > resumed["tse"]["signature_counter"] > first["tse"]["signature_counter"]
        assert nxt["tse"]["serial_number"] == first["tse"]["serial_number"]
    finally:
        await g.gw.stop()


async def test_outage_open_at_shutdown_ends_when_tse_answers_after_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    f = await start_gateway(data)
    f.tse.set_failing("no answer")
    sale = await f.gw.sales.finish(cashier="c", lines=[{"code": PEN}], payments=[{"method": "cash", "amount": 199}])
    assert sale["tse"]["failed"] is True
    await f.gw.stop()
    g = await start_gateway(data, products=False)
    try:
        types = journal_types(g.gw)
        assert types.count("tse.outage_started") == 1 and types[-1] == "tse.outage_ended"
        signed = await g.gw.sales.finish(cashier="c", lines=[{"code": PEN}], payments=[{"method": "cash", "amount": 199}])
        assert_signed(signed["tse"], "Beleg^1.99_0.00_0.00_0.00_0.00^1.99:Bar")
    finally:
        await g.gw.stop()


async def test_unopenable_tse_still_sells_marked(tmp_path: Path) -> None:
    from gateway.app import Gateway
    from gateway.config import Config
    from tests.conftest import load_products

    cfg = TseConfig(enabled=True, mode="production", type="software")  # refused: not certified
    gw = Gateway(Config({}).with_section(cfg), tmp_path / "data")
    svc = FiscalService(gw, cfg)
    svc.install()
    gw.add_component(svc)
    gw.open()
    load_products(gw)
    await gw.start("127.0.0.1", 0)
    try:
        assert "fiscal" in gw.failed
        sale = await gw.sales.finish(cashier="c", lines=[{"code": PEN}], payments=[{"method": "cash", "amount": 199}])
        assert sale["tse"]["failed"] is True and "not certified" in sale["tse"]["reason"]
        assert "tse.outage_started" in journal_types(gw)
    finally:
        await gw.stop()


async def test_http_sale_and_receipt_document(fg: FiscalGateway) -> None:
    token = fg.gw.clients.add("till", "cashier")
    url = f"http://127.0.0.1:{fg.gw.http_port}"
    head = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/api/v1/sales", headers={**head, "Idempotency-Key": "k1"},
                             json={"lines": [{"code": PEN}], "payments": [{"method": "cash", "amount": 500}]}) as r:
            assert r.status == 201
            sale = await r.json()
        assert_signed(sale["tse"], "Beleg^1.99_0.00_0.00_0.00_0.00^1.99:Bar")
        async with http.get(f"{url}/api/v1/receipts/{sale['receipt_no']}/document", headers=head) as r:
            doc = await r.json()
        assert doc["qr_code"] == sale["tse"]["qr_code"]
        assert doc["seller"]["name"] and doc["seller"]["postcode"] == "10115" and doc["missing_fields"] == []
        assert {"label": "TSE-Transaktion", "value": str(sale["tse"]["transaction_number"])} in doc["tse"]
        assert doc["change"] == 301 and doc["vat"] == [{"vat_key": 1, "rate_bp": 1900, "net": 167, "vat": 32, "gross": 199}]
        async with http.get(f"{url}/api/v1/receipts/{sale['receipt_no']}/document?format=text", headers=head) as r:
            assert r.content_type == "text/plain"
            text = await r.text()
        assert "SUMME EUR" in text and sale["tse"]["signature"] in text and "NICHT ZERTIFIZIERT" in text
        training = await fg.gw.sales.finish(cashier="c", lines=[{"code": PEN}], payments=[{"method": "cash", "amount": 199}],
                                            training=True)
        fg.tse.set_failing("down")
        failed = await fg.gw.sales.finish(cashier="c", lines=[{"code": PEN}], payments=[{"method": "cash", "amount": 199}])
        async with http.get(f"{url}/api/v1/receipts/{training['receipt_no']}/document?format=text", headers=head) as r:
            assert TRAINING_MARK in await r.text()
        async with http.get(f"{url}/api/v1/receipts/{failed['receipt_no']}/document", headers=head) as r:
            doc = await r.json()
        assert TSE_FAILURE_MARK in doc["marks"] and doc["qr_code"] is None and "down" in doc["tse_failure"]
        async with http.get(f"{url}/api/v1/receipts/{failed['receipt_no']}/document?format=pdf", headers=head) as r:
            assert r.status == 400


async def test_tse_section_parses_and_builds_each_backend(tmp_path: Path) -> None:
    from drivers.tse.fiskaly import FiskalyTse
    from drivers.tse.software import SoftwareTse
    from gateway.components import import_sections
    from gateway.config import parse_config
    from gateway.errors import ConfigError
    from gateway.fiscal.tse_factory import open_tse

    import_sections()
    for name in ("key", "secret"):
        (tmp_path / name).write_text(f"{name}-value\n", "utf-8")
    raw = {"enabled": True, "type": "fiskaly", "client_id": "KASSE-01", "tss_id": "tss-1", "client_uuid": "c-1",
           "api_key_file": str(tmp_path / "key"), "api_secret_file": str(tmp_path / "secret")}
    cfg = parse_config({"tse": raw}, "gw.toml").get(TseConfig)
    fiskaly = open_tse(cfg.settings(tmp_path), "gw.toml")
    assert isinstance(fiskaly, FiskalyTse) and fiskaly.certified
    await fiskaly.close()
    soft = TseConfig(mode="demo")
    assert soft.settings(tmp_path)["state_dir"] == str(tmp_path / "tse")
    assert isinstance(open_tse(soft.settings(tmp_path)), SoftwareTse)
    with pytest.raises(ConfigError, match="client_id"):
        parse_config({"tse": {"client_id": "till_1"}}, "gw.toml")
    with pytest.raises(ConfigError, match="not certified"):
        open_tse(TseConfig().settings(tmp_path), "gw.toml")
    with pytest.raises(ConfigError, match="api_key_file"):
        open_tse(TseConfig(type="fiskaly", tss_id="t", client_uuid="c").settings(tmp_path), "gw.toml")


async def test_unexpected_signing_error_marks_the_receipt_instead_of_losing_the_paid_sale(fg: FiscalGateway) -> None:
    async def broken(client_id: str, number: int, process_type: str, process_data: str) -> Any:
        raise RuntimeError("driver bug")

    fg.tse.finish_transaction = broken  # type: ignore[method-assign]
    sale = await fg.gw.sales.finish(cashier="c", lines=[{"code": PEN}], payments=[{"method": "card", "amount": 199}])
    assert sale["tse"]["failed"] is True and "driver bug" in sale["tse"]["reason"]
    assert fg.gw.sales.receipt(sale["receipt_no"])["payments"][0]["details"]["terminal"] == "fake"
