"""Property-based fuzzing of the HTTP API from its own OpenAPI document (schemathesis), plus doc/router parity.

A real gateway (demo catalog, admin token) runs in a background thread on a random port; every
documented operation gets generated valid and invalid inputs. Whatever the input, the gateway
never answers 5xx, and its answers conform to the document (status codes, content types,
response schemas).
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.api import pos, system
from gateway.api.openapi import build_openapi
from gateway.api.server import build_app
from gateway.app import Gateway
from gateway.config import Config
from gateway.demo import sample_products
from gateway.pos.catalog import Catalog

EXAMPLES = 15


class LiveGateway:
    """A demo gateway served from its own event loop in a daemon thread."""

    def __init__(self, data_dir: Path) -> None:
        self.gw = Gateway(Config({}), data_dir, demo=True)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="live-gateway", daemon=True)
        self.token = ""

    def run(self, coro: Any, timeout: float = 30.0) -> Any:
        """Run a coroutine on the gateway's loop and wait for it."""
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return fut.result(timeout)

    def start(self) -> None:
        """Load the sample shop, issue an admin token, bind a random port."""
        self.gw.open()

        def load(txn: Any) -> None:
            Catalog.upsert(txn, sample_products())

        self.gw.ledger.write_sync(load)
        # A name the fuzzer will not guess, so generated DELETE /clients/{name} cannot revoke it.
        self.token = self.gw.clients.add(f"fuzz-admin-{uuid.uuid4().hex[:12]}", "admin")
        self.thread.start()
        self.run(self.gw.start("127.0.0.1", 0))

    def stop(self) -> None:
        """Stop the gateway and its loop."""
        self.run(self.gw.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    @property
    def base(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.gw.http_port}"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    """One live gateway for the whole module."""
    g = LiveGateway(tmp_path_factory.mktemp("fuzz"))
    g.start()
    yield g
    g.stop()


@pytest.fixture(scope="module")
def api_schema(live: LiveGateway) -> Any:
    """The OpenAPI document as served by the running gateway."""
    loaded = schemathesis.openapi.from_url(f"{live.base}/api/v1/openapi.json", timeout=10)
    # Unknown query parameters are ignored by design (as most HTTP APIs do); do not count them as invalid input.
    loaded.config.generation.update(allow_extra_parameters=False)
    return loaded


# Operations known from the route registry at collection time (one test each, so a failure names it).
ROUTES = [r for api in (system.api, pos.api) for r in api.routes if r.in_openapi]
OPERATIONS = sorted((r.method, r.path) for r in ROUTES)
# Negative generation needs something to break: a parameter, a body or a required header.
HAS_INPUT = {(r.method, r.path) for r in ROUTES if r.query or r.body is not None or r.idempotent or "{" in r.path}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]


CASES = [(m, p, mode) for m, p in OPERATIONS for mode in GenerationMode
         if mode is GenerationMode.POSITIVE or (m, p) in HAS_INPUT]


@pytest.mark.parametrize(("method", "path", "mode"), CASES, ids=[f"{m} {p} {mode.value}" for m, p, mode in CASES])
def test_api_never_fails_and_conforms(api_schema: Any, live: LiveGateway, method: str, path: str,
                                      mode: GenerationMode) -> None:
    """No 5xx for any generated input; status codes, content types and bodies match the document."""
    operation = api_schema[path][method]
    headers = {"Authorization": f"Bearer {live.token}"}

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        case.call_and_validate(base_url=live.base, headers=headers, timeout=10, checks=CHECKS)

    run()


def test_fuzzing_left_the_ledger_intact(live: LiveGateway) -> None:
    """After all generated requests the hash chain still verifies and nothing was logged as a crash."""
    result = live.gw.ledger.verify()
    assert result.ok, result
    crashes = [e for e in live.gw.errors.records if "unhandled" in e["message"]]
    assert not crashes, crashes
    assert live.gw.metrics.get("http_5xx", 0) == 0


# ---------------------------------------------------------------------------- document <-> router


def _path(resource: Any) -> str:
    """The path template of an aiohttp resource ('path' for plain, 'formatter' for dynamic ones)."""
    info = resource.get_info()
    return str(info.get("path") or info.get("formatter"))


def _router_pairs(app: Any) -> set[tuple[str, str]]:
    """(method, path) of every route; aiohttp's implicit HEAD for each GET is left out."""
    return {(r.method, _path(r.resource)) for r in app.router.routes() if r.method != "HEAD"}


@pytest.mark.parametrize("demo", [False, True])
def test_openapi_matches_router(tmp_path: Path, demo: bool) -> None:
    """Every aiohttp route is documented and every documented operation routes to a handler."""
    gw = Gateway(Config({}), tmp_path, demo=demo)
    app = build_app(gw)
    doc = build_openapi(app)
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    routed = _router_pairs(app) - {("GET", "/static/{name}")}
    assert documented == routed, {"undocumented": routed - documented, "unrouted": documented - routed}
    assert ("POST", "/api/v1/demo/scan") in documented if demo else ("POST", "/api/v1/demo/scan") not in documented
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            handlers = [r.handler for r in app.router.routes() if r.method == method.upper() and _path(r.resource) == path]
            assert len(handlers) == 1, (method, path)
            assert op["operationId"] == handlers[0].__name__


def test_operation_ids_are_unique(tmp_path: Path) -> None:
    """Clients generated from the document need distinct operation ids."""
    app = build_app(Gateway(Config({}), tmp_path, demo=True))
    ids = [op["operationId"] for ops in build_openapi(app)["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
