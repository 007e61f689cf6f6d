"""MXFP4 dot products for the MXFP4 PE (hdl.mx_pe): beats, golden results, the framing model.

What the Amaranth-simulator test and the cocotb testbench of the PE share. A dot product is
its E2M1 codes ``a``, ``b`` (length K, a multiple of 32) and its E8M0 block scales ``scale_a``,
``scale_b`` (length K / 32); :func:`golden_dot` is :func:`golden.gemm_mx.gemm_mxfp4` on the 1 x 1
output and :func:`dot_beats` the stream that carries it. :func:`pe_model` is the PE's documented
answer to any stream, well-formed or not (docs/mx_pe.md), built on the golden model.
"""

from __future__ import annotations

import random
from typing import NamedTuple

import numpy as np

from golden.fp4 import E8M0_NAN
from golden.gemm_mx import gemm_mxfp4
from golden.mx import MXFP4_BLOCK
from hdl.mx_pe import MX_BEAT_LAYOUT, mx_result_layout
from verif.lib.payload import field, pack

#: The largest scale code that is not NaN.
SCALE_MAX = 254


class MxResult(NamedTuple):
    acc: int
    inexact: bool
    nan: bool
    malformed: bool = False


def anchor_of(scale_a, scale_b) -> int:
    """The anchor of a dot product: the largest ``scale_a + scale_b`` of a block whose scales
    are not NaN (0 if every block is NaN: the result is NaN whatever the anchor)."""
    sums = [int(x) + int(y) for x, y in zip(scale_a, scale_b)
            if E8M0_NAN not in (int(x), int(y))]
    return max(sums, default=0)


def golden_dot(a, b, scale_a, scale_b, frac_bits: int) -> MxResult:
    """:func:`golden.gemm_mx.gemm_mxfp4` of one dot product (A 1 x K, B K x 1)."""
    res = gemm_mxfp4(np.asarray(a, np.uint8)[None, :], np.asarray(scale_a)[None, :],
                     np.asarray(b, np.uint8)[:, None], np.asarray(scale_b)[:, None],
                     frac_bits=frac_bits)
    return MxResult(int(res.acc[0, 0]), bool(res.inexact[0, 0]), bool(res.nan[0, 0]))


def dot_fields(a, b, scale_a, scale_b, *, anchor: int | None = None,
               rnd: random.Random | None = None, block: int = MXFP4_BLOCK) -> list[dict]:
    """The beats of a well-formed dot product as field dicts of :data:`MX_BEAT_LAYOUT` (or
    of the NVFP4 PE's, with ``block`` 16 and its ``anchor``).

    The scales and the anchor are read on a block's last beat only: with ``rnd`` the other
    beats carry random values there (the PE must ignore them), otherwise the block's own.
    """
    anchor = anchor_of(scale_a, scale_b) if anchor is None else anchor
    k = len(a)
    out = []
    for i, (x, y) in enumerate(zip(a, b)):
        j, end = i // block, i % block == block - 1
        beat = {"a": int(x), "b": int(y), "scale_a": int(scale_a[j]),
                "scale_b": int(scale_b[j]), "anchor": anchor, "block_last": int(end),
                "last": int(i == k - 1)}
        if rnd is not None and not end:
            beat |= {"scale_a": rnd.getrandbits(8), "scale_b": rnd.getrandbits(8),
                     "anchor": rnd.getrandbits(9)}
        out.append(beat)
    return out


def pack_beats(fields: list[dict], layout=MX_BEAT_LAYOUT) -> list[int]:
    """Field dicts -> payload integers of ``layout`` (fields wider than theirs are cut)."""
    return [pack(layout, **beat) for beat in fields]


def dot_beats(a, b, scale_a, scale_b, *, layout=MX_BEAT_LAYOUT, **kwargs) -> list[int]:
    """:func:`dot_fields` packed as payload integers."""
    return pack_beats(dot_fields(a, b, scale_a, scale_b, **kwargs), layout)


def unpack_result(bits: int, acc_width: int) -> MxResult:
    """An output payload integer of the PE as an :class:`MxResult` (``acc`` signed)."""
    lay = mx_result_layout(acc_width)
    acc = field(int(bits), lay, "acc")
    acc -= (acc >> (acc_width - 1)) << acc_width
    return MxResult(acc, *(bool(field(int(bits), lay, n)) for n in
                           ("inexact", "nan", "malformed")))


def random_dot(rng: np.random.Generator, blocks: int, spread: int):
    """A random dot product of ``blocks`` blocks: (a, b, scale_a, scale_b).

    Block exponents lie within about ``spread`` binades of each other (so with a spread up to
    frac_bits + 14 blocks are shifted partly and wholly out); elements are uniform codes, or
    with some probability a block of one sign, of zeros or of the largest magnitude.
    """
    a, b = random_codes(rng, blocks)
    base = int(rng.integers(spread // 2, 2 * SCALE_MAX - spread // 2 + 1))
    sums = np.clip(base + rng.integers(-(spread // 2), spread - spread // 2 + 1, blocks),
                   0, 2 * SCALE_MAX)
    scale_a = np.array([rng.integers(max(0, s - SCALE_MAX), min(s, SCALE_MAX) + 1)
                        for s in sums])
    scale_b = sums - scale_a
    return a, b, scale_a, scale_b


def code_pair_dots(rng: np.random.Generator, block: int = MXFP4_BLOCK,
                   scales: int = SCALE_MAX):
    """Each of the 256 E2M1 code pairs alone in a block of +-0 codes, at a random pair of
    scale codes 0..``scales``."""
    dots = []
    for k, (x, y) in enumerate(np.ndindex(16, 16)):
        a, b = 8 * rng.integers(0, 2, block), 8 * rng.integers(0, 2, block)
        a[k % block], b[k % block] = x, y
        dots.append((a, b, rng.integers(0, scales + 1, 1), rng.integers(0, scales + 1, 1)))
    return dots


def random_codes(rng: np.random.Generator, blocks: int, block: int = MXFP4_BLOCK):
    """E2M1 codes (a, b) of ``blocks`` blocks of ``block``: uniform codes, or with some
    probability a block of one sign, of zeros or of the largest magnitude."""
    k = blocks * block
    a, b = rng.integers(0, 16, k), rng.integers(0, 16, k)
    for j in range(blocks):
        sl = slice(j * block, (j + 1) * block)
        kind = rng.integers(6)
        if kind == 0:
            a[sl] &= 7
            b[sl] = (b[sl] & 7) | (8 * rng.integers(2))
        elif kind == 1:
            a[sl] = 8 * rng.integers(0, 2, block)
        elif kind == 2:
            a[sl], b[sl] = 7 | 8 * rng.integers(2), 7 | 8 * rng.integers(2)
    return a, b


def pe_model(fields: list[dict], *, k_max: int, frac_bits: int, acc_width: int) -> list[MxResult]:
    """What the PE computes for any beat stream (field dicts), as docs/mx_pe.md states it.

    A block ends on ``block_last``, on ``last`` or on its 32nd beat and is zero-padded to 32
    elements; its scales and anchor are those of its last beat. A block whose scales sum above
    the anchor enters at the anchor (its scales lowered to sum to it). The window is the one of
    the anchor (a zero block of that exponent is added for the golden model) and the sum is
    taken modulo 2^acc_width. ``malformed``: a block that did not end with ``block_last`` on its
    32nd beat, more than k_max / 32 blocks, or a non-NaN block above the anchor.
    """
    return [_model_dot(blocks, k_max, frac_bits, acc_width) for blocks in dot_blocks(fields)]


def dot_blocks(fields: list[dict], block: int = MXFP4_BLOCK):
    """The dot products of a beat stream as the PE frames them, each a list of blocks (lists
    of beats): a block ends on ``block_last``, on ``last`` or on its ``block``-th beat, a dot
    product on ``last``."""
    blocks, current = [], []
    for beat in fields:
        current.append(beat)
        if beat["block_last"] or beat["last"] or len(current) == block:
            blocks.append(current)
            current = []
            if beat["last"]:
                yield blocks
                blocks = []


def _model_dot(blocks, k_max, frac_bits, acc_width) -> MxResult:
    anchor = blocks[-1][-1]["anchor"]
    if any(block[-1]["anchor"] != anchor for block in blocks) or anchor > 2 * SCALE_MAX:
        raise ValueError("the model takes one anchor of at most 508 per dot product")
    malformed = len(blocks) > k_max // MXFP4_BLOCK
    a, b, scale_a, scale_b = [], [], [], []
    for block in blocks:
        end = block[-1]
        malformed |= len(block) != MXFP4_BLOCK or not end["block_last"]
        pad = MXFP4_BLOCK - len(block)
        a += [x["a"] for x in block] + [0] * pad
        b += [x["b"] for x in block] + [0] * pad
        sa, sb = end["scale_a"], end["scale_b"]
        if E8M0_NAN not in (sa, sb) and sa + sb > anchor:
            malformed = True
            sa, sb = _split(anchor)
        scale_a.append(sa)
        scale_b.append(sb)
    # A zero block of exponent ``anchor`` anchors the golden window there.
    sa, sb = _split(anchor)
    res = golden_dot(a + [0] * MXFP4_BLOCK, b + [0] * MXFP4_BLOCK, scale_a + [sa],
                     scale_b + [sb], frac_bits)
    acc = res.acc & ((1 << acc_width) - 1)
    acc -= (acc >> (acc_width - 1)) << acc_width
    return MxResult(acc, res.inexact, res.nan, bool(malformed))


def _split(total: int) -> tuple[int, int]:
    """Two scale codes summing to ``total`` (0..508)."""
    sa = min(total, SCALE_MAX)
    return sa, total - sa
