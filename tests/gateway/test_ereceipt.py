"""Digital receipts: the per-receipt link serves the legal receipt as HTML and the slip as PDF; other links 404."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from gateway.app import Gateway
from gateway.components import add_components
from gateway.config import Config
from gateway.mqtt.config import MqttConfig
from tests.conftest import load_products


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    g = Gateway(Config({}).with_section(MqttConfig(url="")), tmp_path)
    add_components(g, argparse.Namespace())
    g.open()
    load_products(g)
    await g.start("127.0.0.1", 0)
    yield g
    await g.stop()


async def test_receipt_link_html_and_pdf(gw: Gateway) -> None:
    r = await gw.sales.finish(cashier="c", lines=[{"code": "4006381333931", "qty": 2}], payments=[{"method": "cash", "amount": 500}])
    url = r["ereceipt_url"]
    assert url.startswith(f"/r/{r['receipt_no']}-")
    async with aiohttp.ClientSession() as s:
        async with s.get(f"http://127.0.0.1:{gw.http_port}{url}") as resp:
            page = await resp.text()
            assert resp.status == 200 and resp.content_type == "text/html"
        assert "Kugelschreiber blau" in page and "3,98" in page
        async with s.get(f"http://127.0.0.1:{gw.http_port}{url}.pdf") as resp:
            pdf = await resp.read()
            assert resp.status == 200 and resp.content_type == "application/pdf" and pdf.startswith(b"%PDF")
        forged = url[:-1] + ("0" if url[-1] != "0" else "1")
        async with s.get(f"http://127.0.0.1:{gw.http_port}{forged}") as resp:
            assert resp.status == 404
        async with s.get(f"http://127.0.0.1:{gw.http_port}/r/1") as resp:
            assert resp.status == 404
