import struct
import zlib

import numpy as np
import pytest

from inferwatch.sketches import (
    BinnedCounts,
    KLLSketch,
    Reservoir,
    Sketch,
    TopKCounts,
    sketch_from_bytes,
)
from inferwatch.sketches import __all__ as exported


def _filled() -> list[Sketch]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=5000)
    kll = KLLSketch()
    kll.update_batch(x)
    binned = BinnedCounts.from_reference(x)
    binned.update_batch(x)
    topk = TopKCounts(k=8)
    topk.update_batch(["a", "b", "a", 3, True, 2.5])
    res = Reservoir(capacity=64, seed=1)
    res.update_batch(rng.normal(size=(500, 3)))
    return [kll, binned, topk, res]


def test_exports() -> None:
    # Sorted as ruff's RUF022 sorts: constants, then classes, then functions.
    assert exported == sorted(exported, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
    assert set(exported) == {
        "DEFAULT_K", "BinnedCounts", "KLLSketch", "Reservoir", "Sketch", "TopKCounts",
        "sketch_from_bytes",
    }  # fmt: skip


@pytest.mark.parametrize("sketch", _filled(), ids=lambda s: type(s).__name__)
def test_protocol_round_trip_and_errors(sketch: Sketch) -> None:
    assert isinstance(sketch, Sketch)
    data = sketch.to_bytes()
    back = type(sketch).from_bytes(data)
    assert back.to_bytes() == data
    assert len(back) == len(sketch) == back.n
    assert type(sketch_from_bytes(data)) is type(sketch)
    with pytest.raises(ValueError, match="checksum"):
        type(sketch).from_bytes(data[:-5] + bytes([data[-5] ^ 0xFF]) + data[-4:])
    with pytest.raises(ValueError, match="corrupted"):
        type(sketch).from_bytes(data[:-10])
    newer = data[:4] + bytes([99]) + data[5:]
    with pytest.raises(ValueError, match="version 99 is not supported"):
        type(sketch).from_bytes(newer)
    with pytest.raises(ValueError, match="bad magic"):
        type(sketch).from_bytes(b"XXXX" + data[4:])
    with pytest.raises(ValueError, match="not an inferwatch sketch"):
        type(sketch).from_bytes(b"IW")
    with pytest.raises(TypeError, match="can only merge"):
        sketch.merge(object())  # type: ignore[arg-type]


def test_wrong_kind_is_named() -> None:
    data = KLLSketch().to_bytes()
    with pytest.raises(ValueError, match="hold a KLLSketch, not a TopKCounts"):
        TopKCounts.from_bytes(data)


def test_garbage_payload_with_valid_frame() -> None:
    payload = b"\x00\x01"
    data = struct.pack("<4sBBI", b"IWSK", 1, 1, len(payload)) + payload
    data += struct.pack("<I", zlib.crc32(payload))
    with pytest.raises(ValueError, match="corrupted KLLSketch"):
        KLLSketch.from_bytes(data)
