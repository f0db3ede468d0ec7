"""The receipt printed after a sale carries the configured store's identity (KassenSichV §6: name and address)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from gateway.app import Gateway
from gateway.components import add_components, demo_config, prepare_demo
from gateway.config import Config, StoreConfig
from gateway.mqtt.config import MqttConfig
from tests.conftest import load_products


async def test_printed_receipt_names_the_configured_store(tmp_path: Path) -> None:
    store = StoreConfig(id="berlin-07", name="Bäckerei Schmidt", address="Hauptstr. 5, 10115 Berlin", vat_id="DE987654321")
    gw = Gateway(demo_config(Config({}).with_section(MqttConfig(url="")).with_section(store)), tmp_path, demo=True)
    add_components(gw, argparse.Namespace())
    prepare_demo(gw)
    load_products(gw)
    await gw.start("127.0.0.1", 0)
    try:
        async with asyncio.timeout(15):
            printer: Any = gw.components["devices"].get("printer-1")  # type: ignore[attr-defined]
            while printer.state != "online":
                await asyncio.sleep(0.05)
            await gw.sales.finish(cashier="c", lines=[{"code": "40084015"}], payments=[{"method": "cash", "amount": 500}])
            while "SUMME" not in printer.adapter.last_receipt_text():
                await asyncio.sleep(0.05)
        text = printer.adapter.last_receipt_text()
        assert "Bäckerei Schmidt" in text and "Hauptstr. 5" in text and "DE987654321" in text
        assert "Demo Store" not in text
    finally:
        await gw.stop()
