"""Which optional components the gateway builds from config, and the demo's embedded set-up."""

from __future__ import annotations

import argparse
import importlib
import logging
from typing import Any

from gateway.app import Gateway
from gateway.demo import sample_products

log = logging.getLogger(__name__)

# Modules declaring config sections (imported so the loader and config-doc know them).
SECTION_MODULES: list[str] = ["gateway.devices.manager", "gateway.omni.config"]


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
    from gateway.devices.manager import DeviceManager, DevicesConfig
    from gateway.omni import api as omni_api
    from gateway.omni.component import OmniComponent
    from gateway.omni.config import OmniConfig

    import_sections()
    gw.add_component(DeviceManager(gw.config.get(DevicesConfig), gw.bus, gw.idem, gw.config.source), devices_api.api)
    if gw.config.get(OmniConfig).enabled:
        # HQ look-ups (omni.bind_hq) and inbound appliers (gateway.omni.inbound.register_inbound) are
        # bound by the HQ link component.
        gw.add_component(OmniComponent(gw), omni_api.api)
    del args


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
