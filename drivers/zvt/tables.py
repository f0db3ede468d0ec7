"""Lookup tables of the ZVT protocol: command names, result codes, status and card-type texts.

Source: PA00P015 rev. 13.08 "Commands, Bitmaps, Error Messages" ch. 10 (result codes), table 17
(intermediate status), ch. 11 (terminal status), ch. 12 (card types), as summarised in the project
fact sheet ``reference/zvt.md`` sections 5, 6, 9-12.
"""

from __future__ import annotations

# (CLASS, INSTR) -> readable name, both directions.
COMMAND_NAMES: dict[tuple[int, int], str] = {
    (0x06, 0x00): "registration",
    (0x06, 0x01): "authorization",
    (0x06, 0x02): "log_off",
    (0x06, 0x0C): "book_tip",
    (0x06, 0x0F): "completion",
    (0x06, 0x10): "send_turnover_totals",
    (0x06, 0x18): "reset_terminal",
    (0x06, 0x1A): "print_system_configuration",
    (0x06, 0x1E): "abort_pt",
    (0x06, 0x20): "repeat_receipt",
    (0x06, 0x22): "pre_authorization",
    (0x06, 0x23): "partial_reversal",
    (0x06, 0x24): "book_total",
    (0x06, 0x25): "pre_authorization_reversal",
    (0x06, 0x30): "reversal",
    (0x06, 0x31): "refund",
    (0x06, 0x50): "end_of_day",
    (0x06, 0x70): "diagnosis",
    (0x06, 0x93): "initialisation",
    (0x06, 0xB0): "abort",
    (0x06, 0xC0): "read_card",
    (0x06, 0xD1): "print_line",
    (0x06, 0xD3): "print_text_block",
    (0x06, 0xE0): "display_text",
    (0x05, 0x01): "status_enquiry",
    (0x04, 0x01): "set_date_time",
    (0x04, 0x0F): "status_information",
    (0x04, 0xFF): "intermediate_status",
    (0x80, 0x00): "ack",
}

# BMP 27 / APRC of 84 xx / byte 1 of 06 1E (spec ch. 10; fact sheet section 9).
RESULT_CODES: dict[int, str] = {
    0x00: "no error",
    0x64: "card not readable (LRC/parity error)",
    0x65: "card data not present",
    0x66: "processing error",
    0x67: "function not permitted for ec and Maestro cards",
    0x68: "function not permitted for credit and tank cards",
    0x6A: "turnover file full",
    0x6B: "function deactivated (PT not registered)",
    0x6C: "abort via timeout or abort key",
    0x6E: "card in blocked list",
    0x6F: "wrong currency",
    0x71: "credit not sufficient (chip card)",
    0x72: "chip error",
    0x73: "card data incorrect",
    0x74: "DUKPT engine exhausted",
    0x75: "text not authentic",
    0x76: "PAN not in white list",
    0x77: "end-of-day batch not possible",
    0x78: "card expired",
    0x79: "card not yet valid",
    0x7A: "card unknown",
    0x7B: "fallback to magnetic stripe not possible (girocard)",
    0x7C: "fallback to magnetic stripe not possible (non-girocard)",
    0x7D: "communication error",
    0x7E: "fallback to magnetic stripe not possible, debit advice possible (girocard)",
    0x83: "function not possible",
    0x85: "key missing",
    0x89: "PIN pad defective",
    0x9A: "ZVT protocol error",
    0x9B: "error from dial-up or communication fault",
    0x9C: "please wait",
    0xA0: "receiver not ready",
    0xA1: "remote station does not respond",
    0xA3: "no connection",
    0xA4: "submission of GeldKarte not possible",
    0xA5: "function not allowed due to PCI-DSS/P2PE rules",
    0xB1: "memory full",
    0xB2: "merchant journal full",
    0xB4: "already reversed",
    0xB5: "reversal not possible",
    0xB7: "pre-authorisation incorrect (amount too high) or amount wrong",
    0xB8: "error pre-authorisation",
    0xBF: "voltage supply too low",
    0xC0: "card locking mechanism defective",
    0xC1: "merchant card locked",
    0xC2: "diagnosis required",
    0xC3: "maximum amount exceeded",
    0xC4: "card profile invalid",
    0xC5: "payment method not supported",
    0xC6: "currency not applicable",
    0xC8: "amount too small",
    0xC9: "max. transaction amount too small",
    0xCB: "function only allowed in EURO",
    0xCC: "printer not ready",
    0xCD: "cashback not possible",
    0xD2: "function not permitted for service cards or bank customer cards",
    0xDC: "card inserted",
    0xDD: "error during card eject",
    0xDE: "error during card insertion",
    0xE0: "remote maintenance activated",
    0xE2: "card reader does not answer or is defective",
    0xE3: "shutter closed",
    0xE4: "terminal activation required",
    0xE7: "at least one goods group not found",
    0xE8: "no goods-group table loaded",
    0xE9: "restriction code not permitted",
    0xEA: "card code not permitted",
    0xEB: "function not executable (PIN algorithm unknown)",
    0xEC: "PIN processing not possible",
    0xED: "PIN pad defective",
    0xF0: "open end-of-day batch present",
    0xF1: "ec-cash/Maestro offline error",
    0xF5: "OPT error",
    0xF6: "OPT data not available",
    0xFA: "error transmitting offline transactions",
    0xFB: "turnover data set defective",
    0xFC: "necessary device missing or defective",
    0xFD: "baud rate not supported",
    0xFE: "register unknown",
    0xFF: "system error",
}

# 04 FF status byte (spec table 17; fact sheet section 10).
INTERMEDIATE_STATUS: dict[int, str] = {
    0x00: "waiting for amount confirmation",
    0x01: "please watch PIN pad",
    0x02: "please watch PIN pad",
    0x03: "not accepted",
    0x04: "waiting for response from FEP",
    0x05: "sending auto-reversal",
    0x06: "sending post-bookings",
    0x07: "card not admitted",
    0x08: "card unknown / undefined",
    0x09: "expired card",
    0x0A: "insert card",
    0x0B: "please remove card",
    0x0C: "card not readable",
    0x0D: "processing error",
    0x0E: "please wait",
    0x0F: "commencing automatic end-of-day batch",
    0x10: "invalid card",
    0x11: "balance display",
    0x12: "system malfunction",
    0x13: "payment not possible",
    0x14: "credit not sufficient",
    0x15: "incorrect PIN",
    0x16: "limit not sufficient",
    0x17: "please wait",
    0x18: "PIN try limit exceeded",
    0x19: "card data incorrect",
    0x1A: "service mode",
    0x1B: "approved, please fill up",
    0x1C: "approved, please take goods",
    0x1D: "declined",
    0x26: "waiting for input of the mobile number",
    0x27: "waiting for repeat of mobile number",
    0x28: "currency selection, please wait",
    0x29: "language selection, please wait",
    0x2A: "for loading please insert card",
    0x2B: "emergency transaction, please wait",
    0x2C: "application selection, please wait",
    0x68: "customer card insertion detected",
    0x69: "please select DCC",
    0xC7: "waiting for input of mileage",
    0xC8: "waiting for cashier",
    0xC9: "commencing automatic diagnosis",
    0xCA: "commencing automatic initialisation",
    0xCB: "merchant journal full",
    0xCC: "debit advice not possible, PIN required",
    0xD2: "connecting dial-up",
    0xD3: "dial-up connection made",
    0xE0: "waiting for application selection",
    0xE1: "waiting for language selection",
    0xE2: "please use the cleaning card",
    0xF1: "offline",
    0xF2: "online",
    0xF3: "offline transaction",
    0xFF: "see display text",
}

# Terminal status byte, last positional byte of the 05 01 Completion (spec ch. 11).
TERMINAL_STATUS: dict[int, str] = {
    0x00: "ready",
    0x51: "initialisation required",
    0x62: "date/time incorrect",
    0x9C: "please wait (software update)",
    0x9D: "partial issue of goods",
    0xB1: "memory full",
    0xB2: "merchant journal full",
    0xBF: "voltage supply too low",
    0xC0: "card locking mechanism defective",
    0xC1: "merchant card locked",
    0xC2: "diagnosis required",
    0xC4: "card profile invalid",
    0xCC: "printer not ready",
    0xDC: "card inserted",
    0xDF: "out of order",
    0xE0: "remote maintenance activated",
    0xE1: "card not completely removed",
    0xE2: "card reader does not answer or is defective",
    0xE3: "shutter closed",
    0xE4: "terminal activation required",
    0xF0: "reconciliation required",
    0xF6: "OPT data not available",
}

# BMP 8A ZVT card-type IDs seen most in DE/AT (spec ch. 12).
CARD_TYPES: dict[int, str] = {
    0x05: "girocard",
    0x06: "Mastercard",
    0x08: "American Express",
    0x0A: "Visa",
    0x0B: "Visa Electron",
    0x0C: "Diners",
    0x0D: "V PAY",
    0x0E: "JCB",
    0x2E: "Maestro",
    0x57: "Bancontact",
    0x61: "Alipay",
    0xC4: "Dankort",
    0xC6: "China UnionPay",
    0xE8: "Discover",
}


def result_text(code: int) -> str:
    """Readable text of a result code; 01-63 are acquirer/host codes without a fixed meaning."""
    if code in RESULT_CODES:
        return RESULT_CODES[code]
    if 0x01 <= code <= 0x63:
        return f"declined by the authorisation host (host code {code})"
    return "unknown result code"


def intermediate_text(code: int) -> str:
    """Readable text of an intermediate status (04 FF); 41-5D, 66, 67 add 'please remove card'."""
    if code in INTERMEDIATE_STATUS:
        return INTERMEDIATE_STATUS[code]
    if 0x41 <= code <= 0x5D or code in (0x66, 0x67):
        base = INTERMEDIATE_STATUS.get(code - 0x40)
        return f"{base}, please remove card" if base else "please remove card"
    return "unknown status"


def command_name(cls: int, instr: int) -> str:
    """Readable name of a CLASS/INSTR pair, covering responses ``80 00`` and ``84 xx``."""
    if cls == 0x84:
        return "negative_response"
    return COMMAND_NAMES.get((cls, instr), f"unknown_{cls:02x}{instr:02x}")
