"""Which optional components the gateway builds from config, and the demo's embedded set-up."""

from __future__ import annotations

import argparse
import importlib
import logging
from typing import Any

from gateway.app import Gateway
from gateway.config import Config
from gateway.demo import sample_products

log = logging.getLogger(__name__)

# Modules declaring config sections (imported so the loader and config-doc know them).
SECTION_MODULES: list[str] = [
    "gateway.devices.manager", "gateway.payments.card", "gateway.mqtt.config", "gateway.mirror.config",
    "gateway.fiscal.service", "gateway.fiscal.closing", "gateway.omni.config",
]


def import_sections() -> None:
    """Import every module that declares a config section."""
    for mod in SECTION_MODULES:
        try:
            importlib.import_module(mod)
        except ImportError as err:
            log.debug("config section module %s unavailable: %s", mod, err)


def add_components(gw: Gateway, args: argparse.Namespace) -> None:
    """Build the optional components the config asks for."""
    from gateway.devices import api as devices_api
    from gateway.devices import input_adapters, output_adapters  # register the device drivers
    from gateway.devices.manager import DeviceManager, DevicesConfig
    from gateway.omni import api as omni_api
    from gateway.omni.component import OmniComponent
    from gateway.omni.config import OmniConfig
    from gateway.payments.card import ZvtConfig
    from gateway.payments.card import install as install_card

    import_sections()
    if gw.demo:
        from gateway.demo_devices import DemoSimulators

        gw.add_component(DemoSimulators(gw))
    gw.add_component(DeviceManager(gw.config.get(DevicesConfig), gw.bus, gw.idem, gw.config.source, data_dir=gw.data_dir,
                                   store=gw.config.store),
                     devices_api.api)
    zcfg = gw.config.get(ZvtConfig)
    if zcfg.enabled:
        install_card(gw, zcfg)
    from gateway.fiscal.service import TseConfig
    from gateway.fiscal.service import install as install_fiscal

    tcfg = gw.config.get(TseConfig)
    if tcfg.enabled:
        install_fiscal(gw, tcfg)
    if gw.config.get(OmniConfig).enabled:
        gw.add_component(OmniComponent(gw), omni_api.api)
    add_mqtt(gw, getattr(args, "mqtt_url", None))
    add_hq(gw, getattr(args, "hq_url", None))
    from gateway import ereceipt
    from gateway.printing import CustomerDisplayFeed, ReceiptPrinting

    gw.sales.response_hooks.append(ereceipt.EReceipts(gw))
    gw.extra_apis.append(ereceipt.api)
    gw.sales.after_hooks.append(ReceiptPrinting(gw))
    gw.add_component(CustomerDisplayFeed(gw))
    del input_adapters, output_adapters


def add_hq(gw: Gateway, demo_url: str | None = None) -> None:
    """The HQ link when configured; the inbound handlers and price schedule always (HQ tools may push offline files)."""
    import dataclasses

    from gateway.mirror import HqConfig, HqLink, InboundHandlers
    from gateway.mirror.prices import PriceSchedule
    from gateway.pos.catalog import Catalog, validate_product

    handlers = InboundHandlers()
    gw.hq_handlers = handlers

    def apply_products(txn: Any, message: dict[str, Any]) -> None:
        Catalog.upsert(txn, [validate_product(p) for p in message["products"]])

    omni = gw.components.get("omni")
    if omni is not None:
        from gateway.omni.inbound import register_inbound

        register_inbound(handlers, omni)  # type: ignore[arg-type]
    else:
        handlers.register("product", apply_products)
    prices = PriceSchedule(gw.ledger)
    prices.register(handlers)
    gw.add_component(prices)
    cfg = gw.config.get(HqConfig)
    if gw.demo and demo_url:
        cfg = dataclasses.replace(cfg, enabled=True, urls=[demo_url])
    if cfg.enabled and cfg.urls:
        link = HqLink(cfg, gw.config.store, gw.ledger, gw.bus, handlers)
        gw.add_component(link)
        if omni is not None:
            bind_omni_to_hq(omni, link)
    else:
        log.info("HQ link off ([hq] enabled/urls not set): the journal is kept and mirrored once HQ is configured")


def bind_omni_to_hq(omni: Any, link: Any) -> None:
    """Voucher, loyalty and online-order look-ups go to HQ over NATS request/reply."""
    from gateway.hq.rpc import RpcRefused
    from gateway.omni.hq import HqRejected

    async def responder(op: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return dict(await link.request(op, body))
        except RpcRefused as err:
            raise HqRejected(str(err)) from None

    omni.bind_hq(responder)


def add_mqtt(gw: Gateway, demo_url: str | None = None) -> None:
    """The MQTT interface when a broker URL is configured (the demo only with ``--mqtt-url``)."""
    import dataclasses

    from gateway.mqtt.commands import CommandRegistry
    from gateway.mqtt.component import MqttComponent
    from gateway.mqtt.config import MqttConfig
    from gateway.mqtt.handlers import register_commands
    from gateway.mqtt.idempotency import SqliteIdempotencyStore
    from gateway.mqtt_clients import gateway_password_file

    cfg = gw.config.get(MqttConfig)
    if gw.demo:
        cfg = dataclasses.replace(cfg, url=demo_url or "")
        if not demo_url:
            log.info("demo without MQTT: no broker given (use --mqtt-url mqtt://HOST:PORT)")
    if not cfg.url:
        return
    if not cfg.password_file:
        secret = gateway_password_file(gw.data_dir)
        if secret.exists():
            cfg = dataclasses.replace(cfg, password_file=str(secret))
    registry = CommandRegistry()
    register_commands(registry, gw)
    gw.data_dir.mkdir(parents=True, exist_ok=True)
    comp = MqttComponent(cfg, gw.bus, gw.config.store.id, registry, SqliteIdempotencyStore(gw.data_dir / "mqtt-requests.db"),
                         client_roles=gw.clients.role_of)
    gw.add_component(comp)


def demo_config(config: Config) -> Config:
    """Embedded demo settings: simulated card terminal on a free local port, software TSE, training off."""
    from gateway.fiscal.service import TseConfig
    from gateway.payments.card import ZvtConfig

    cfg = config
    if not config.get(ZvtConfig).enabled:
        cfg = cfg.with_section(ZvtConfig(enabled=True, host="127.0.0.1", port=_free_port(), device_id="terminal-demo"))
    if not config.get(TseConfig).enabled:
        cfg = cfg.with_section(TseConfig(enabled=True, mode="demo", type="software"))
    return cfg


def _free_port() -> int:
    from gateway.netutil import free_port

    return free_port()


def prepare_demo(gw: Gateway) -> str:
    """Open the demo ledger, load the sample shop once, and issue a fresh demo token."""
    from gateway.pos.catalog import Catalog

    gw.open()
    if gw.catalog.count() == 0:
        products = sample_products()

        def fn(txn: Any) -> None:
            Catalog.upsert(txn, products)
            txn.append("catalog.imported", "catalog", {"source": "demo", "products": len(products), "rejected": 0})

        gw.ledger.write_sync(fn)
    if any(c["name"] == "demo" and not c["revoked"] for c in gw.clients.list()):
        gw.clients.revoke("demo")
    return gw.clients.add("demo", "admin")
