"""The status page in a real headless Chromium against a live ``storegw demo``: rendered DOM, live updates, screenshot."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway import __version__
from gateway.netutil import free_port

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian package 'chromium') for the real-browser test")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-dev-shm-usage", "--hide-scrollbars"]




class Demo:
    """``storegw demo`` in a child process."""

    def __init__(self, base: str, token: str, proc: subprocess.Popen[str]) -> None:
        self.base, self.token, self.proc = base, token, proc

    def sell(self) -> dict[str, Any]:
        """Post one sale of the first product; returns the receipt."""
        import urllib.request

        def call(path: str, body: dict[str, Any] | None = None) -> Any:
            req = urllib.request.Request(self.base + path, data=json.dumps(body).encode() if body else None,
                                         headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json",
                                                  "Idempotency-Key": uuid.uuid4().hex})
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.loads(r.read())

        code = call("/api/v1/products?q=bio&limit=1")["products"][0]["code"]
        product = call(f"/api/v1/products/{code}")
        line = {"code": code, "weight_g": 500, "weight_source": "scale"} if product["unit"] == "kg" else {"code": code, "qty": 1}
        return dict(call("/api/v1/sales", {"lines": [line], "payments": [{"method": "cash", "amount": 100_000}]}))

    def status(self) -> dict[str, Any]:
        """``GET /api/v1/status``."""
        import urllib.request

        with urllib.request.urlopen(self.base + "/api/v1/status", timeout=10) as r:
            return dict(json.loads(r.read()))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """A running demo gateway with its admin token."""
    data = tmp_path_factory.mktemp("demo")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "--data-dir", str(data), "demo", "--http-port", str(port)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    token = ""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not token:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.search(r"demo token \(admin\): (\S+)", line)
        token = m.group(1) if m else token
    if not token:
        proc.kill()
        pytest.fail("storegw demo did not print its token")
    yield Demo(f"http://127.0.0.1:{port}", token, proc)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def chromium(tmp: Path, *args: str, timeout: float = 60) -> str:
    """Run headless Chromium once; its stdout."""
    assert CHROMIUM is not None
    profile = tmp / f"profile-{uuid.uuid4().hex[:8]}"
    r = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


class Texts(HTMLParser):
    """Text content and class of every element with an id."""

    def __init__(self) -> None:
        super().__init__()
        self.text: dict[str, str] = {}
        self.cls: dict[str, str] = {}
        self._stack: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Track the innermost element with an id."""
        a = dict(attrs)
        ident = a.get("id")
        if ident:
            self.text[ident] = ""
            self.cls[ident] = a.get("class") or ""
        if tag not in ("br", "meta", "link", "img", "input"):
            self._stack.append(ident)

    def handle_endtag(self, tag: str) -> None:
        """Leave an element."""
        if self._stack:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        """Add text to every open element with an id."""
        for ident in self._stack:
            if ident:
                self.text[ident] += data


def dump(tmp: Path, url: str) -> Texts:
    """The DOM after the page's scripts ran (virtual time lets the first poll finish)."""
    parser = Texts()
    parser.feed(chromium(tmp, "--virtual-time-budget=5000", "--dump-dom", url))
    return parser


def test_rendered_dom_shows_version_and_ledger(demo: Demo, tmp_path: Path) -> None:
    """The page as rendered by Chromium shows the version, the ledger's last seq and the live badge; a sale moves seq."""
    before = demo.status()["ledger"]["last_seq"]
    dom = dump(tmp_path, demo.base + "/")
    assert dom.text["version"] == __version__
    assert dom.text["seq"] == str(before)
    assert dom.cls["live"] == "badge live", dom.text["live"]
    assert dom.text["mode"] == "demo"
    assert int(dom.text["products"]) >= 300
    for dev in ("printer-1", "scanner-1", "scale-1", "display-1"):
        assert dev in dom.text["devices"]
    assert "online" in dom.text["devices"] and "Test page" in dom.text["devices"]
    receipt = demo.sell()
    after = dump(tmp_path, demo.base + "/")
    assert int(after.text["seq"]) >= receipt["seq"] > before
    assert "SUMME" in after.text["receipt"]  # the printed receipt's preview


@contextlib.asynccontextmanager
async def devtools(tmp: Path, url: str) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """A page open in headless Chromium and a DevTools protocol WebSocket to it."""
    assert CHROMIUM is not None
    profile = tmp / "cdp-profile"
    proc = await asyncio.create_subprocess_exec(CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
                                                "--window-size=1200,900", url, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"

        async def port_line() -> str:
            return port_file.read_text().strip() if port_file.exists() else ""

        port = int((await poll(port_line, bool, 30)).split()[0])
        async with aiohttp.ClientSession() as session:
            async with asyncio.timeout(30):
                while True:
                    async with session.get(f"http://127.0.0.1:{port}/json/list") as r:
                        pages = [t for t in await r.json() if t.get("type") == "page" and t.get("url", "").startswith(url)]
                    if pages:
                        break
                    await asyncio.sleep(0.05)
            async with session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                yield ws
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


async def poll(get: Callable[[], Awaitable[Any]], ok: Callable[[Any], bool], limit_s: float) -> Any:
    """Call ``get`` every 0.1 s until ``ok`` accepts its value (the page and browser are other processes)."""
    async with asyncio.timeout(limit_s):
        while True:
            value = await get()
            if ok(value):
                return value
            await asyncio.sleep(0.1)


async def evaluate(ws: aiohttp.ClientWebSocketResponse, expression: str) -> Any:
    """``Runtime.evaluate`` in the page; the value."""
    ident = int.from_bytes(os.urandom(3), "big")
    await ws.send_json({"id": ident, "method": "Runtime.evaluate", "params": {"expression": expression, "returnByValue": True}})
    async with asyncio.timeout(10):
        while True:
            msg = await ws.receive_json()
            if msg.get("id") == ident:
                return msg["result"]["result"].get("value")


async def test_page_updates_live_without_reload(demo: Demo, tmp_path: Path) -> None:
    """With the page open, a sale shows up in 'Last seq' within a few seconds and the page is never reloaded."""
    async with devtools(tmp_path, demo.base + "/") as ws:
        async def seq_text() -> Any:
            return await evaluate(ws, "document.getElementById('seq').textContent")

        seq = await poll(seq_text, lambda v: v not in ("–", None), 20)
        await evaluate(ws, "window.__marker = 'same page'")
        receipt = await asyncio.to_thread(demo.sell)
        assert receipt["seq"] > int(seq)
        await poll(seq_text, lambda v: int(v) >= receipt["seq"], 10)
        assert await evaluate(ws, "window.__marker") == "same page"
        assert await evaluate(ws, "document.getElementById('live').className") == "badge live"
        # Nothing overflows the 1200 px window (a layout regression would widen the document).
        assert await evaluate(ws, "document.documentElement.scrollWidth") <= 1200


def test_screenshot(demo: Demo, tmp_path: Path) -> None:
    """Chromium renders a full-size screenshot of the page (kept in the test's tmp dir for inspection)."""
    shot = tmp_path / "status.png"
    chromium(tmp_path, "--virtual-time-budget=5000", f"--screenshot={shot}", "--window-size=1200,900", demo.base + "/")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1200, 900)
    assert len(data) > 10_000  # a blank page compresses to a few hundred bytes
    if os.environ.get("STOREGW_SCREENSHOT"):
        shutil.copy(shot, os.environ["STOREGW_SCREENSHOT"])
