"""ESC/POS receipt printers: receipt layout, real-time status, print queue, renderer, simulator.

Hardware: Epson TM-series and compatible ESC/POS thermal receipt printers on USB, serial or
TCP port 9100, driven through python-escpos 3.1 (Epson ESC/POS command reference). See
``docs/devices-output.md``. The renderer (``drivers.printer.render``, needs Pillow and segno)
and the simulator (``drivers.printer.simulator``) are imported from their modules.
"""

from drivers.printer.connection import PrinterConnection, StatusPoller
from drivers.printer.errors import (
    PrinterConfigError,
    PrinterError,
    PrinterNotReady,
    PrinterOffline,
    PrinterStatusError,
    PrinterTimeout,
    PrintJobError,
    UnknownJob,
)
from drivers.printer.layout import ReceiptLayout
from drivers.printer.queue import JobState, JobStore, MemoryJobStore, PrintJob, PrintQueue, SqliteJobStore
from drivers.printer.receipt import (
    Discount,
    FiscalBlock,
    Payment,
    Receipt,
    ReceiptHeader,
    ReceiptLine,
    VatEntry,
    format_cents,
    format_money,
)
from drivers.printer.status import PrinterStatus, device_state

__all__ = [
    "Discount", "FiscalBlock", "JobState", "JobStore", "MemoryJobStore", "Payment", "PrintJob",
    "PrintJobError", "PrintQueue", "PrinterConfigError", "PrinterConnection", "PrinterError",
    "PrinterNotReady", "PrinterOffline", "PrinterStatus", "PrinterStatusError", "PrinterTimeout",
    "Receipt", "ReceiptHeader", "ReceiptLayout", "ReceiptLine", "SqliteJobStore", "StatusPoller",
    "UnknownJob", "VatEntry", "device_state", "format_cents", "format_money",
]
