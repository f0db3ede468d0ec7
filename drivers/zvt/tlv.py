"""BER-style TLV codec of the ZVT BMP 06 container: multi-byte tags, constructed tags, all length forms.

Source: PA00P015 rev. 13.08 ch. 9 (TLV container), fact sheet ``reference/zvt.md`` section 8:
tag continuation when the low five bits of the first byte are all ones and while bit 8 is set in
the following bytes; bit 6 (0x20) of the first byte marks a constructed object; lengths ``00-7F``,
``81 nn``, ``82 hi lo`` (big-endian, unlike the APDU's extended length).
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.zvt.errors import ZvtDecodeError, ZvtEncodeError

_MAX_TAG_BYTES = 4
# Nesting deeper than this is not used by any terminal; beyond it values stay raw, which also
# bounds recursion on hostile input.
_MAX_DEPTH = 12


@dataclass(frozen=True)
class TlvObject:
    """One TLV data object; ``children`` is set for a constructed object whose value parsed as TLV."""

    tag: bytes
    value: bytes
    children: tuple[TlvObject, ...] | None = None

    @property
    def tag_hex(self) -> str:
        """The tag as uppercase hex, e.g. ``1F07``."""
        return self.tag.hex().upper()

    @property
    def constructed(self) -> bool:
        """True when bit 6 of the first tag byte is set."""
        return bool(self.tag and self.tag[0] & 0x20)

    def find(self, tag: int | bytes) -> TlvObject | None:
        """The first direct child with ``tag``, if any."""
        return find_tag(self.children or (), tag)


def tag_bytes(tag: int | bytes) -> bytes:
    """Normalise a tag given as int (``0x1F07``) or bytes to its wire bytes."""
    if isinstance(tag, bytes):
        return tag
    if tag < 0:
        raise ZvtEncodeError(f"negative TLV tag {tag}")
    return tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")


def find_tag(objects: tuple[TlvObject, ...] | list[TlvObject], tag: int | bytes) -> TlvObject | None:
    """The first object in ``objects`` carrying ``tag`` (no recursion)."""
    wanted = tag_bytes(tag)
    for obj in objects:
        if obj.tag == wanted:
            return obj
    return None


def encode_length(length: int) -> bytes:
    """Shortest TLV length form for ``length`` (0..65535)."""
    if length < 0 or length > 0xFFFF:
        raise ZvtEncodeError(f"TLV length {length} out of range")
    if length < 0x80:
        return bytes([length])
    if length < 0x100:
        return bytes([0x81, length])
    return bytes([0x82, length >> 8, length & 0xFF])


def decode_length(data: bytes, pos: int) -> tuple[int, int]:
    """Read a TLV length at ``pos``; returns (length, position after the length field)."""
    if pos >= len(data):
        raise ZvtDecodeError("TLV length missing", pos)
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    if first == 0x81:
        if pos + 2 > len(data):
            raise ZvtDecodeError("TLV length 81 truncated", pos)
        return data[pos + 1], pos + 2
    if first == 0x82:
        if pos + 3 > len(data):
            raise ZvtDecodeError("TLV length 82 truncated", pos)
        return (data[pos + 1] << 8) | data[pos + 2], pos + 3
    raise ZvtDecodeError(f"invalid TLV length byte {first:02X}", pos)


def _decode_tag(data: bytes, pos: int) -> tuple[bytes, int]:
    start = pos
    if pos >= len(data):
        raise ZvtDecodeError("TLV tag missing", pos)
    first = data[pos]
    pos += 1
    if first & 0x1F == 0x1F:
        while True:
            if pos >= len(data):
                raise ZvtDecodeError("multi-byte TLV tag truncated", start)
            byte = data[pos]
            pos += 1
            if pos - start > _MAX_TAG_BYTES:
                raise ZvtDecodeError("TLV tag longer than 4 bytes", start)
            if not byte & 0x80:
                break
    return bytes(data[start:pos]), pos


def decode_tlv(data: bytes, _depth: int = 0) -> tuple[TlvObject, ...]:
    """Decode a sequence of TLV objects filling ``data`` exactly; raises only ``ZvtDecodeError``."""
    objects: list[TlvObject] = []
    pos = 0
    while pos < len(data):
        tag, pos = _decode_tag(data, pos)
        length, pos = decode_length(data, pos)
        if pos + length > len(data):
            raise ZvtDecodeError(f"TLV value of tag {tag.hex().upper()} truncated", pos)
        value = bytes(data[pos : pos + length])
        pos += length
        children: tuple[TlvObject, ...] | None = None
        if tag[0] & 0x20 and _depth < _MAX_DEPTH:
            # Some terminals use constructed-looking tags (FF xx) for primitives: keep raw then.
            try:
                children = decode_tlv(value, _depth + 1)
            except ZvtDecodeError:
                children = None
        objects.append(TlvObject(tag, value, children))
    return tuple(objects)


def encode_tlv(objects: list[TlvObject] | tuple[TlvObject, ...]) -> bytes:
    """Encode TLV objects; constructed ones with children are re-encoded from their children."""
    out = bytearray()
    for obj in objects:
        value = encode_tlv(obj.children) if obj.children is not None else obj.value
        out += obj.tag + encode_length(len(value)) + value
    return bytes(out)


def prim(tag: int | bytes, value: bytes) -> TlvObject:
    """A primitive TLV object."""
    return TlvObject(tag_bytes(tag), value)


def cons(tag: int | bytes, *children: TlvObject) -> TlvObject:
    """A constructed TLV object holding ``children``."""
    return TlvObject(tag_bytes(tag), encode_tlv(children), tuple(children))


def encode_container(objects: list[TlvObject] | tuple[TlvObject, ...]) -> bytes:
    """The complete BMP 06 field: ``06 <TLV length> <objects>``."""
    body = encode_tlv(objects)
    return b"\x06" + encode_length(len(body)) + body


def tlv_to_json(objects: tuple[TlvObject, ...] | list[TlvObject]) -> dict[str, object]:
    """JSON form: keyed by uppercase hex tag, constructed nested, primitive values hex.

    A tag occurring more than once at one level (e.g. several 07 text lines) maps to a list of
    its values in wire order.
    """
    out: dict[str, object] = {}
    for obj in objects:
        value: object = tlv_to_json(obj.children) if obj.children is not None else obj.value.hex().upper()
        key = obj.tag_hex
        if key in out:
            previous = out[key]
            if isinstance(previous, list):
                previous.append(value)
            else:
                out[key] = [previous, value]
        else:
            out[key] = value
    return out
