"""Retail scales over serial: MT-SICS, Toledo 8217 and NCI codecs, an async client, a simulator.

Dialog 06 (German price-computing POS scales) is vendor-locked; see :mod:`drivers.scale.dialog06`
and docs/devices-input.md for the interface a vendor module must fill.
"""

from drivers.scale.client import SerialScale, make_codec
from drivers.scale.codec import Command, ScaleCodec
from drivers.scale.errors import (
    ScaleBusy,
    ScaleCommandError,
    ScaleDeviceError,
    ScaleError,
    ScaleOffline,
    ScaleProtocolError,
    ScaleRangeError,
    ScaleTimeout,
    ScaleUnsupported,
)
from drivers.scale.legal import WeighingGuard, manual_weight_allowed, weighed_line_allowed
from drivers.scale.model import WeightReading, WeightState, to_grams
from drivers.scale.mtsics import MtSicsCodec
from drivers.scale.toledo import NciCodec, Toledo8217Codec

__all__ = [
    "Command",
    "MtSicsCodec",
    "NciCodec",
    "ScaleBusy",
    "ScaleCodec",
    "ScaleCommandError",
    "ScaleDeviceError",
    "ScaleError",
    "ScaleOffline",
    "ScaleProtocolError",
    "ScaleRangeError",
    "ScaleTimeout",
    "ScaleUnsupported",
    "SerialScale",
    "Toledo8217Codec",
    "WeighingGuard",
    "WeightReading",
    "WeightState",
    "make_codec",
    "manual_weight_allowed",
    "to_grams",
    "weighed_line_allowed",
]
