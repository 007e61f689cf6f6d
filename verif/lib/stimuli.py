"""Stimuli and result decoders that the Amaranth-simulator and the cocotb tests of a block share.

Tests never import from other test modules; what two levels of the same block both need
(the read-out's corner accumulators, the PE's drain decoding, the FP16 FMA's special-value
classes, random triples and PE tiles) lives here.
"""

from __future__ import annotations

import numpy as np

from golden.format_table import GEMM_MODES
from hdl.modes import INT_GEMM_MODES, int_mode_code, mode_code
from hdl.pe import drain_layout


def pe_modes(r4: bool) -> tuple:
    """The (a_format, b_format, phase) modes a processing element computes, and the function
    that packs one for its ``mode`` port: all of them, or the integer ones of the INT4-only PE
    (``ProcessingElement(r4=False)``)."""
    return (GEMM_MODES, mode_code) if r4 else (INT_GEMM_MODES, int_mode_code)


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


#: Representatives of every special-value class, both signs: zeros, smallest/largest
#: subnormal, a mid subnormal, smallest normal, one, 1 + ulp, a mid normal, largest finite,
#: infinity, a quiet and a signalling NaN.
CLASS_PATTERNS = [s | m for s in (0x0000, 0x8000) for m in (
    0x0000, 0x0001, 0x03FF, 0x0155, 0x0400, 0x3C00, 0x3C01, 0x4A3D, 0x7BFF,
    0x7C00, 0x7E00, 0x7C01)]


def random_triples(rng, n: int, kind: str = "uniform"):
    """``n`` triples of bit patterns: uniform, near-cancelling (c ~ -a*b) or tiny magnitudes."""
    a, b, c = (rng.integers(0, 1 << 16, n, dtype=np.uint16) for _ in range(3))
    if kind == "near":
        # c close to -a*b so that the sum cancels: the hardest case for alignment.
        with np.errstate(over="ignore", invalid="ignore"):
            prod = a.view(np.float16).astype(np.float64) * b.view(np.float16).astype(np.float64)
            c = (-prod).astype(np.float16).view(np.uint16)
        c = c ^ rng.integers(0, 4, n, dtype=np.uint16)
    elif kind == "tiny":
        # subnormal and small-normal products and addends.
        a = a & np.uint16(0x83FF) | (rng.integers(0, 8, n, dtype=np.uint16) << 10)
        b = b & np.uint16(0x83FF) | (rng.integers(0, 8, n, dtype=np.uint16) << 10)
        c = c & np.uint16(0x87FF)
    return a, b, c


#: PE tiles (a, b patterns) that take the *accumulator register* through each special state,
#: so the value fed back from it is one: overflow to +-Inf inside a tile, Inf held while
#: finite products are added, Inf - Inf and 0 * Inf turning it into NaN, a NaN input carried
#: to the drain, subnormal sums (and their carry into the normals), -0 and +0 from cancelling
#: or underflowing products.
EDGE_TILES = [
    ([0x7BFF, 0x7BFF], [0x3C00, 0x3C00]),
    ([0xFBFF, 0x7BFF, 0x3C00], [0x3C00, 0xBC00, 0x4000]),
    ([0x7BFF, 0x5000], [0x3C00, 0x3C00]),
    ([0x7C00, 0x3C00, 0x4000], [0x3C00, 0x3C00, 0xC000]),
    ([0x7C00, 0x7C00], [0x3C00, 0xBC00]),
    ([0x3C00, 0x0000, 0x3C00], [0x3C00, 0x7C00, 0x3C00]),
    ([0x7C01, 0x3C00], [0x3C00, 0x3C00]),
    ([0x3C00, 0xFE00], [0x3C00, 0x3C00]),
    ([0x0001, 0x0001, 0x03FF, 0x8001], [0x3C00, 0x3C00, 0x3C00, 0x3C00]),
    ([0x0001, 0x8001], [0x3C00, 0x3C00]),
    ([0x8000], [0x3C00]),
    ([0x8000, 0x0000], [0x3C00, 0x3C00]),
    ([0x3C00, 0xBC00], [0x4000, 0x4000]),
    ([0x8001, 0x0001], [0x0001, 0x3C00]),
]


def pe_tiles(rng, count: int, max_len: int, sigma: float, special: float = 0.1):
    """:data:`EDGE_TILES`, then ``count`` random tiles of 1 to ``max_len`` beats.

    Random operands are normal(0, sigma) values, each replaced with probability ``special`` by
    a random special-class pattern (``CLASS_PATTERNS``: +-0, subnormals, largest finite, Inf,
    quiet and signalling NaN), so specials also arrive mid-tile on a finite accumulator.
    """
    tiles = [(np.array(a, np.uint16), np.array(b, np.uint16)) for a, b in EDGE_TILES]
    for n in rng.integers(1, max_len + 1, count):
        ab = rng.normal(0, sigma, (2, int(n))).astype(np.float16).view(np.uint16)
        mask = rng.random(ab.shape) < special
        ab[mask] = rng.choice(CLASS_PATTERNS, int(mask.sum()))
        tiles.append((ab[0], ab[1]))
    return tiles


def interleave_tiles(rng, tiles, slots: int, sigma: float = 4.0):
    """The beat stream of an interleaved MAC PE (``hdl.fp16_fma.Fp16FmaPipelinedPE``): beat
    ``n`` belongs to slot ``n mod slots``.

    ``tiles`` (lists of (a, b) patterns, as :func:`pe_tiles` gives) go to the slot with the
    fewest beats so far; every slot is then topped up to the same length with one random
    tile (normal(0, ``sigma``) values) so the round-robin stream has no hole. Returns the
    beats as arrays ``a``, ``b``, ``first``, ``last`` in stream order and the tiles in the order
    their results leave the PE (the order of their ``last`` beats).
    """
    lanes = [[] for _ in range(slots)]              # per slot: (a, b, first, last, tile)
    tiles = list(tiles)

    def put(j, tile):
        a, b = tile
        lanes[j] += [(a[k], b[k], k == 0, k == len(a) - 1, len(tiles_out))
                     for k in range(len(a))]
        tiles_out.append(tile)

    tiles_out = []
    for tile in tiles:
        put(min(range(slots), key=lambda j: len(lanes[j])), tile)
    longest = max(len(lane) for lane in lanes)
    for j in range(slots):
        if len(lanes[j]) < longest:
            ab = rng.normal(0, sigma, (2, longest - len(lanes[j]))).astype(np.float16)
            put(j, tuple(ab.view(np.uint16)))
    stream = [lanes[j][k] for k in range(longest) for j in range(slots)]
    a, b, first, last, tile = (np.array(col) for col in zip(*stream))
    order = [tiles_out[t] for t, end in zip(tile, last) if end]
    return (a.astype(np.uint16), b.astype(np.uint16), first.astype(np.uint8),
            last.astype(np.uint8), order)


#: E4M3 codes of every class, both signs: zeros, smallest, a mid and the largest subnormal,
#: smallest normal, one, 1 + ulp, a mid normal, the largest finite (448) and NaN.
E4M3_CLASS_CODES = [s | m for s in (0x00, 0x80) for m in (
    0x00, 0x01, 0x03, 0x07, 0x08, 0x38, 0x39, 0x5D, 0x7E, 0x7F)]

#: FP32 accumulators at the edges of the FP8 MAC: zeros, the subnormal range, the smallest
#: normal, around the products' range (|a * b| from 2^-18 to 200704) where they cancel or land
#: on ties, values whose ulp swallows most of a product (2^17: ulp 2^-6; 2^24, 2^30), the
#: largest finite, infinities and NaNs (quiet, signalling, negative).
FP32_EDGE_ACCS = [
    0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x007FFFFF, 0x807FFFFF, 0x00800000,
    0x3F800000, 0xBF800000, 0xBFC00000, 0x3F800001, 0x36800000, 0xB6800000, 0x36FFFFFF,
    0x48440000, 0xC8440000, 0x48000000, 0x47FFFFFF, 0x4B800000, 0xCB800001, 0x4E800000,
    0xCE7FFFFF, 0x43E00000, 0xC3DFFFFF, 0x7F7FFFFF, 0xFF7FFFFF, 0x7F800000, 0xFF800000,
    0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FA5A5A5,
]


def random_f32_accs(rng: np.random.Generator, n: int) -> list[int]:
    """``n`` random FP32 patterns: half log-uniform around the FP8 products' range
    (2^-40..2^40, where additions round, cancel and tie; some with their low 8 bits cleared
    so they end where product bits start), half uniform over all patterns."""
    half = n // 2
    mags = np.exp2(rng.uniform(-40, 40, half)) * rng.choice([-1, 1], half)
    near = mags.astype(np.float32).view(np.uint32)
    near &= np.where(rng.random(half) < 0.3, np.uint32(0xFFFFFF00), np.uint32(0xFFFFFFFF))
    anywhere = rng.integers(0, 1 << 32, n - half, dtype=np.uint32)
    return [int(x) for x in np.concatenate([near, anywhere])]


#: FP8 PE tiles (E4M3 codes a, b) that take the accumulator register through the states it
#: can reach from -0 (finite products never reach Inf or a subnormal): a NaN code carried to
#: the drain, -0 kept and +0 from cancelling, 448^2 sums with tiny products below their ulp
#: (rounding every step), a tie to even.
FP8_EDGE_TILES = [
    ([0x7F, 0x38], [0x38, 0x38]),
    ([0x38, 0x38], [0xFF, 0x00]),
    ([0x80, 0x00], [0x38, 0x80]),
    ([0x80], [0x38]),
    ([0x38, 0xB8], [0x40, 0x40]),
    ([0x7E] * 4 + [0x01, 0x01], [0x7E] * 4 + [0x01, 0x81]),
    ([0x7E, 0x7E, 0xFE], [0x7E, 0x7E, 0x7E]),
    ([0x7E, 0x01, 0x01, 0x01], [0x7E, 0x01, 0x02, 0x03]),
]


def fp8_pe_tiles(rng, count: int, max_len: int):
    """:data:`FP8_EDGE_TILES`, then ``count`` random tiles of 1 to ``max_len`` beats of
    uniformly random E4M3 codes (every class, NaN included)."""
    tiles = [(np.array(a, np.uint8), np.array(b, np.uint8)) for a, b in FP8_EDGE_TILES]
    for n in rng.integers(1, max_len + 1, count):
        ab = rng.integers(0, 256, (2, int(n)), dtype=np.uint8)
        tiles.append((ab[0], ab[1]))
    return tiles
