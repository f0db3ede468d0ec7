"""ESC/POS receipt printers: receipt layout, real-time status, print queue, renderer, simulator.

Hardware: Epson TM-series and compatible ESC/POS thermal receipt printers on USB, serial or
TCP port 9100, driven through python-escpos 3.1. See ``docs/devices-output.md``.
"""
