"""The reference HQ responder: each ref applied once, refusals for overspending and bad amounts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.hq.rpc import ReferenceHq, RpcRefused


def test_voucher_rules_and_refs_apply_once(tmp_path: Path) -> None:
    hq = ReferenceHq(tmp_path / "hq.json")
    assert hq.handle("s1", "voucher.issue", {"code": "G", "amount": 500, "ref": "i1"}) == {"balance": 500}
    assert hq.handle("s1", "voucher.redeem", {"code": "G", "amount": 200, "ref": "r1"}) == {"balance": 300}
    assert hq.handle("s2", "voucher.redeem", {"code": "G", "amount": 200, "ref": "r1"}) == {"balance": 300}  # a retry
    with pytest.raises(RpcRefused, match="only 300"):
        hq.handle("s1", "voucher.redeem", {"code": "G", "amount": 301, "ref": "r2"})
    for bad in (-5, 0, "10", True):
        with pytest.raises(RpcRefused, match="positive"):
            hq.handle("s1", "voucher.redeem", {"code": "G", "amount": bad, "ref": f"b{bad}"})
    with pytest.raises(RpcRefused):
        hq.handle("s1", "loyalty.redeem", {"customer": "c1", "points": 10, "ref": "l1"})
    assert json.loads((tmp_path / "hq.json").read_text())["vouchers"]["G"]["balance"] == 300
    again = ReferenceHq(tmp_path / "hq.json")  # state survives a restart
    assert again.handle("s1", "voucher.balance", {"code": "G"})["balance"] == 300
