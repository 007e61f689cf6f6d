"""Stimuli and result decoders that the Amaranth-simulator and the cocotb tests of a block share.

Tests never import from other test modules; what two levels of the same block both need
(the read-out's corner accumulators, the PE's drain decoding) lives here.
"""

from __future__ import annotations

import numpy as np

from hdl.pe import drain_layout


def clamped(raw: int, acc_width: int) -> tuple[int, int]:
    """A drained ``drain_layout`` value -> (tile result, overflow), as hdl.pe.saturate clamps."""
    lay = drain_layout(acc_width)
    value = (raw >> lay["value"].offset) & ((1 << acc_width) - 1)
    value -= (value >> (acc_width - 1)) << acc_width
    overflow = (raw >> lay["overflow"].offset) & 1
    if overflow:
        low = (raw >> lay["negative"].offset) & 1
        value = -(2 ** (acc_width - 1)) if low else 2 ** (acc_width - 1) - 1
    return value, overflow


def corner_accs(acc_width: int) -> np.ndarray:
    """Accumulator values at the edges of the conversion, for one width."""
    top = 2 ** (acc_width - 1)
    vals = {0, 1, -1, top - 1, -top, -(top - 1), 2047, 2048, 2049, 4095, 4097, 6143, 6145,
            0x1800, 0x2800, 0x1801, 0x27FF}
    for k in range(acc_width - 1):
        vals |= {2 ** k, -(2 ** k), 2 ** k + 1, 3 * 2 ** k}
    for k in range(acc_width - 11):
        # 12 significant bits, the 12th set: an exact tie when k + 1 bits are dropped (a normal
        # result), to even: 2049 rounds down, 2051 up, -2053 down in magnitude.
        vals |= {2049 * 2 ** k, 2051 * 2 ** k, -2053 * 2 ** k}
        # Just above a tie: round and sticky bits both set, so it rounds up, never to even.
        vals |= {4099 * 2 ** k}
    return np.array(sorted(v for v in vals if -top <= v < top), dtype=np.int64)


def random_accs(rng: np.random.Generator, acc_width: int, n: int) -> np.ndarray:
    """Values with log-uniform magnitude, some with few set bits so ties come up often."""
    bits = rng.integers(1, acc_width, size=n)
    mag = rng.integers(0, 2 ** 62, size=n, dtype=np.int64) >> (63 - bits)
    sparse = rng.random(n) < 0.3
    low = rng.integers(0, acc_width, size=n)
    mag = np.where(sparse, (mag >> low) << low, mag)
    sign = rng.random(n) < 0.5
    return np.where(sign, -mag, mag).astype(np.int64)


OFFSETS = (-256, -60, -37, -30, -24, -14, -7, 0, 4, 16, 40, 255)
