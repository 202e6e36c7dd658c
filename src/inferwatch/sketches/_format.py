"""The byte frame every sketch is serialised in: header, payload, checksum.

Layout (little-endian)::

    magic  b"IWSK"   4 bytes   refuses bytes that are not an inferwatch sketch
    version          1 byte    refuses formats this code cannot read
    kind             1 byte    which sketch class wrote it
    length           4 bytes   payload length, catches truncation
    payload          length bytes
    crc32            4 bytes   of the payload, catches corruption in transit

Sketches cross process and machine boundaries (replicas, backends), so every
failure to read one is a ``ValueError`` that says what is wrong.
"""

from __future__ import annotations

import struct
import zlib

MAGIC = b"IWSK"
VERSION = 1
KINDS = {1: "KLLSketch", 2: "BinnedCounts", 3: "TopKCounts", 4: "Reservoir"}
_HEAD = struct.Struct("<4sBBI")
_CRC = struct.Struct("<I")


def frame(kind: int, payload: bytes) -> bytes:
    """Wrap ``payload`` written by sketch ``kind`` in the versioned frame."""
    return _HEAD.pack(MAGIC, VERSION, kind, len(payload)) + payload + _CRC.pack(zlib.crc32(payload))


def peek_kind(data: bytes) -> int:
    """Validate the header and return the sketch kind it names."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < _HEAD.size + _CRC.size:
        raise ValueError(f"not an inferwatch sketch: only {len(data)} bytes")
    magic, version, kind, _ = _HEAD.unpack_from(data)
    if magic != MAGIC:
        raise ValueError("not an inferwatch sketch: bad magic bytes")
    if version != VERSION:
        raise ValueError(
            f"sketch format version {version} is not supported (this inferwatch reads "
            f"version {VERSION}); upgrade inferwatch on the reading side"
        )
    if kind not in KINDS:
        raise ValueError(f"unknown sketch kind {kind}; upgrade inferwatch on the reading side")
    return int(kind)


def unframe(data: bytes, kind: int) -> bytes:
    """Check the frame and return the payload, which must come from sketch ``kind``."""
    found = peek_kind(data)
    if found != kind:
        raise ValueError(
            f"these bytes hold a {KINDS[found]}, not a {KINDS[kind]}; "
            f"use {KINDS[found]}.from_bytes or sketch_from_bytes"
        )
    data = bytes(data)
    _, _, _, length = _HEAD.unpack_from(data)
    if len(data) != _HEAD.size + length + _CRC.size:
        raise ValueError(
            f"corrupted sketch: header says {length} payload bytes, frame holds "
            f"{len(data) - _HEAD.size - _CRC.size}"
        )
    payload = data[_HEAD.size : _HEAD.size + length]
    (crc,) = _CRC.unpack_from(data, _HEAD.size + length)
    if crc != zlib.crc32(payload):
        raise ValueError("corrupted sketch: checksum mismatch")
    return payload
