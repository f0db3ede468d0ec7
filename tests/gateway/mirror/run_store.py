"""A store gateway process for the kill test: opens the ledger and runs the HQ link until killed."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.gateway.mirror.conftest import Store


async def main(db: str, url: str) -> None:
    """Run the link forever."""
    store = Store(Path(db), url)
    await store.link.start()
    print("started", flush=True)
    await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
