"""Property tests of the processData the fiscal component builds from receipt drafts."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.fiscal.journal_records import split_address
from gateway.fiscal.process_data import vat_slot
from gateway.fiscal.service import process_data_for

CASH = {"cash"}
cents = st.integers(min_value=-10**7, max_value=10**7)


def parse_amount(text: str) -> int:
    """``"-12.34"`` -> -1234 (exactly two decimals, dot)."""
    sign = -1 if text.startswith("-") else 1
    whole, frac = text.lstrip("-").split(".")
    assert len(frac) == 2 and whole.isdigit()
    return sign * (int(whole) * 100 + int(frac))


@settings(max_examples=300)
@given(by_vat=st.dictionaries(st.sampled_from([1, 2, 3, 4, 5, 6, 7, 8]), cents, min_size=1, max_size=8),
       payments=st.lists(st.tuples(st.sampled_from(["cash", "card", "voucher"]), cents), min_size=1, max_size=6),
       training=st.booleans(), kind=st.sampled_from(["sale", "void", "return"]))
def test_sale_process_data_sums_per_slot_and_kind(by_vat: dict[int, int], payments: list[tuple[str, int]], training: bool,
                                                  kind: str) -> None:
    draft = {"training": training, "totals": {"by_vat": [{"vat_id": k, "gross": g} for k, g in by_vat.items()]},
             "payments": [{"method": m, "amount": a} for m, a in payments]}
    vorgang, amounts, pays = process_data_for(kind, draft, CASH).split("^")
    assert vorgang == ("AVTraining" if training else "Beleg")
    slots = [parse_amount(a) for a in amounts.split("_")]
    expected = [0] * 5
    for k, g in by_vat.items():
        expected[vat_slot(k)] += g
    assert slots == expected
    if training:
        assert pays == ""
        return
    seen = {"Bar": 0, "Unbar": 0}
    for part in filter(None, pays.split("_")):
        amount, kind_ = part.split(":")
        seen[kind_] += parse_amount(amount)
    assert seen["Bar"] == sum(a for m, a in payments if m in CASH)
    assert seen["Unbar"] == sum(a for m, a in payments if m not in CASH)


@settings(max_examples=300)
@given(amount=st.integers(min_value=1, max_value=10**9), kind=st.sampled_from(["deposit", "withdrawal"]))
def test_cash_moves_are_slot_e_bar(amount: int, kind: str) -> None:
    pd = process_data_for(kind, {"amount": amount}, CASH)
    signed = amount if kind == "deposit" else -amount
    vorgang, amounts, pays = pd.split("^")
    assert vorgang == "Beleg" and [parse_amount(a) for a in amounts.split("_")] == [0, 0, 0, 0, signed]
    assert pays.endswith(":Bar") and parse_amount(pays.split(":")[0]) == signed


@settings(max_examples=300)
@given(st.text(max_size=80))
def test_split_address_never_fails_and_keeps_the_street(address: str) -> None:
    street, postcode, city = split_address(address)
    assert street.strip() == street and street in address
    assert " " not in postcode
