"""NVFP4 dot products for the NVFP4 PE (hdl.nv_pe): beats, golden results, the framing model.

The NVFP4 side of :mod:`verif.lib.mx_dots`, which the Amaranth-simulator test and the cocotb
testbench of the PE share: a dot product is its E2M1 codes ``a``, ``b`` (length K, a multiple
of 16) and its E4M3 block scales ``scale_a``, ``scale_b`` (length K / 16). :func:`golden_dot`
is :func:`golden.gemm_nv.gemm_nvfp4` on the 1 x 1 output, :func:`dot_beats` the stream that
carries it, :func:`pe_model` the PE's documented answer to any stream (docs/nv_pe.md).
"""

from __future__ import annotations

import numpy as np

from golden.gemm_mx import E2M1
from golden.gemm_nv import e4m3_fields, gemm_nvfp4
from golden.mx import NVFP4_BLOCK
from hdl.nv_pe import NV_BEAT_LAYOUT
from verif.lib import mx_dots
from verif.lib.mx_dots import MxResult, random_codes

#: The E4M3 NaN codes, and the range of a block's exponent-field sum max(ea, 1) + max(eb, 1).
NANS = (0x7F, 0xFF)
EXP_SUM_MIN, EXP_SUM_MAX = 2, 30


def anchor_of(scale_a, scale_b) -> int:
    """The anchor of a dot product: the largest max(ea, 1) + max(eb, 1) of a block whose
    scales are not NaN (0 if every block is NaN: the result is NaN whatever the anchor)."""
    _, ea, nan_a = e4m3_fields(np.asarray(scale_a, np.int64))
    _, eb, nan_b = e4m3_fields(np.asarray(scale_b, np.int64))
    sums = (ea + eb)[~(nan_a | nan_b)]
    return int(sums.max()) if sums.size else 0


def golden_dot(a, b, scale_a, scale_b, frac_bits: int) -> MxResult:
    """:func:`golden.gemm_nv.gemm_nvfp4` of one dot product (A 1 x K, B K x 1)."""
    res = gemm_nvfp4(np.asarray(a, np.uint8)[None, :], np.asarray(scale_a)[None, :],
                     np.asarray(b, np.uint8)[:, None], np.asarray(scale_b)[:, None],
                     frac_bits=frac_bits)
    return MxResult(int(res.acc[0, 0]), bool(res.inexact[0, 0]), bool(res.nan[0, 0]))


def dot_fields(a, b, scale_a, scale_b, **kwargs) -> list[dict]:
    """:func:`verif.lib.mx_dots.dot_fields` in blocks of 16, anchored by :func:`anchor_of`."""
    kwargs.setdefault("anchor", anchor_of(scale_a, scale_b))
    return mx_dots.dot_fields(a, b, scale_a, scale_b, block=NVFP4_BLOCK, **kwargs)


def pack_beats(fields: list[dict]) -> list[int]:
    return mx_dots.pack_beats(fields, NV_BEAT_LAYOUT)


def dot_beats(a, b, scale_a, scale_b, **kwargs) -> list[int]:
    """:func:`dot_fields` packed as payload integers of :data:`hdl.nv_pe.NV_BEAT_LAYOUT`."""
    return pack_beats(dot_fields(a, b, scale_a, scale_b, **kwargs))


def scale_code(rng: np.random.Generator, field: int) -> int:
    """A random non-NaN E4M3 code of either sign whose max(e, 1) is ``field`` (1..15): field
    1 is a subnormal (zeros included) or the least normal binade."""
    e = int(rng.integers(0, 2)) if field == 1 else field
    m = int(rng.integers(0, 7 if e == 15 else 8))
    return int(rng.integers(0, 2)) << 7 | e << 3 | m


def random_dot(rng: np.random.Generator, blocks: int, spread: int):
    """A random dot product of ``blocks`` blocks, (a, b, scale_a, scale_b): codes as
    :func:`verif.lib.mx_dots.random_codes`, exponent-field sums within ``spread`` binades of
    each other (0..28: at 28 the window's whole range), scales of both signs."""
    a, b = random_codes(rng, blocks, NVFP4_BLOCK)
    base = int(rng.integers(EXP_SUM_MIN, EXP_SUM_MAX - spread + 1))
    sums = base + rng.integers(0, spread + 1, blocks)
    field_a = [int(rng.integers(max(1, s - 15), min(15, s - 1) + 1)) for s in sums]
    scale_a = np.array([scale_code(rng, f) for f in field_a])
    scale_b = np.array([scale_code(rng, s - f) for s, f in zip(sums, field_a)])
    return a, b, scale_a, scale_b


def pe_model(fields: list[dict], *, k_max: int, frac_bits: int, acc_width: int) -> list[MxResult]:
    """What the PE computes for any beat stream (field dicts), as docs/nv_pe.md states it:
    the MXFP4 PE's framing (:func:`verif.lib.mx_dots.pe_model`) in blocks of 16, each block's
    value P * Ma * Mb shifted by ``anchor - (max(ea, 1) + max(eb, 1))``, a block above the
    anchor entering at shift 0 (malformed), the sum modulo 2^acc_width. Computed here on
    integers from the decoded fields, not through golden."""
    return [_model_dot(blocks, k_max, frac_bits, acc_width)
            for blocks in mx_dots.dot_blocks(fields, NVFP4_BLOCK)]


def _model_dot(blocks, k_max, frac_bits, acc_width) -> MxResult:
    anchor = blocks[-1][-1]["anchor"]
    if any(block[-1]["anchor"] != anchor for block in blocks) or not 0 <= anchor < 32:
        raise ValueError("the model takes one anchor of 0..31 per dot product")
    grid = E2M1.grid()
    malformed = len(blocks) > k_max // NVFP4_BLOCK
    acc, lost, nan = 0, False, False
    for block in blocks:
        end = block[-1]
        malformed |= len(block) != NVFP4_BLOCK or not end["block_last"]
        (sig_a, sig_b), (ea, eb), nans = e4m3_fields(np.array([end["scale_a"], end["scale_b"]]))
        if nans.any():
            nan = True
            continue
        if ea + eb > anchor:
            malformed, ea, eb = True, anchor, 0
        shift = anchor - int(ea + eb)
        wide = sum(int(grid[x["a"]] * grid[x["b"]]) for x in block) * int(sig_a * sig_b)
        wide <<= frac_bits
        acc += wide >> shift
        lost |= wide & ((1 << shift) - 1) != 0
    acc &= (1 << acc_width) - 1
    acc -= (acc >> (acc_width - 1)) << acc_width
    return MxResult(0 if nan else acc, lost and not nan, nan, bool(malformed))
