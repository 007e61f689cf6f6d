# amaranth: UnusedElaboratable=no
"""Amaranth-simulator tests of the MXFP4 PE against golden.gemm_mx (equality only).

Every E2M1 code pair, every shift amount of the window (both signs, NaN scales), random
multi-block dot products with idle input, junk payloads and output backpressure, and streams
that break the framing or anchor contract against the PE's documented answer
(:func:`verif.lib.mx_dots.pe_model`).
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from golden.gemm_mx import FRAC_BITS, FRAC_BITS_MAX, gemm_mxfp4
from golden.mx import MXFP4_BLOCK
from hdl.mx_pe import LATENCY, MxProcessingElement, result_exponent
from verif.lib import mx_dots
from verif.lib.block_pe_sim import check_dots, run
from verif.lib.mx_dots import (SCALE_MAX, MxResult, anchor_of, dot_beats, dot_fields,
                               golden_dot, pack_beats, pe_model, random_dot)

NAN = 0xFF


def expected(dots, frac_bits=FRAC_BITS):
    return [golden_dot(a, b, sa, sb, frac_bits) for a, b, sa, sb in dots]


def test_every_code_pair():
    """All 256 E2M1 code pairs, each the one nonzero product of its own block (the others
    +-0 codes), then the largest block sums +-4608 and a block of every pair's sign."""
    rnd = random.Random(1)
    dots = []
    for k, (x, y) in enumerate(np.ndindex(16, 16)):
        a, b = 8 * np.arange(MXFP4_BLOCK) % 16, 8 * (np.arange(MXFP4_BLOCK) // 2 % 2)
        a[k % MXFP4_BLOCK], b[k % MXFP4_BLOCK] = x, y
        dots.append((a, b, [127], [127]))
    for x, y in ((7, 7), (7, 15), (15, 15), (15, 7), (6, 14)):
        dots.append((np.full(MXFP4_BLOCK, x), np.full(MXFP4_BLOCK, y), [127], [127]))
    want = check_dots(MxProcessingElement(), dots, mx_dots, "code pairs", rnd=rnd)
    assert {w.acc >> FRAC_BITS for w in want[256:]} >= {4608, -4608}


def shift_dots(rng, frac_bits):
    """Two-block dot products: an anchor block and a block ``s`` binades below it, for every
    shift s that keeps or loses bits (0..frac_bits + 19) and far ones, block sums of both signs
    with low bits set (the sticky flag), in both orders; a zero block anchoring the window."""
    dots = []
    shifts = list(range(frac_bits + 20)) + [31, 32, 63, 64, 100, 254, 255, 300, 507, 508]
    for s in shifts:
        for sign in (0, 8):
            top = int(rng.integers(s, 2 * SCALE_MAX + 1))
            sa0 = int(rng.integers(max(0, top - SCALE_MAX), min(top, SCALE_MAX) + 1))
            low = top - s
            sa1 = int(rng.integers(max(0, low - SCALE_MAX), min(low, SCALE_MAX) + 1))
            anchor_block = rng.integers(0, 16, MXFP4_BLOCK)
            if s % 3 == 0:
                anchor_block[:] = 0
            # One sign, an odd block sum (some product of 1 unit: codes 1 x 1).
            shifted = np.concatenate([[1], rng.integers(0, 8, MXFP4_BLOCK - 1)])
            ones = np.ones(MXFP4_BLOCK, int)
            a = np.concatenate([anchor_block, shifted])
            b = np.concatenate([rng.integers(0, 16, MXFP4_BLOCK), ones | sign])
            sa, sb = [sa0, sa1], [top - sa0, low - sa1]
            dots.append((a, b, sa, sb))
            dots.append((np.roll(a, MXFP4_BLOCK), np.roll(b, MXFP4_BLOCK), sa[::-1], sb[::-1]))
    return dots


def nan_dots(rng):
    """NaN scales in every place: a lone NaN block, NaN in A or B or both, first or last, and a
    NaN block whose scale sum lies above the anchor (not a malformed block)."""
    a, b = rng.integers(0, 16, 2 * MXFP4_BLOCK), rng.integers(0, 16, 2 * MXFP4_BLOCK)
    one = (a[:MXFP4_BLOCK], b[:MXFP4_BLOCK])
    return [
        (*one, [NAN], [127]), (*one, [3], [NAN]), (*one, [NAN], [NAN]),
        (a, b, [NAN, 100], [200, 100]), (a, b, [100, 254], [100, NAN]),
        (a, b, [NAN, 0], [NAN, 0]), (a, b, [254, 0], [254, NAN]),
    ]


@pytest.mark.parametrize("frac_bits", [FRAC_BITS, 4])
def test_every_shift_and_nan_scale(frac_bits):
    rng = np.random.default_rng(frac_bits)
    dots = shift_dots(rng, frac_bits) + nan_dots(rng)
    want = check_dots(MxProcessingElement(frac_bits=frac_bits), dots, mx_dots,
                      f"frac_bits {frac_bits}", rnd=random.Random(2))
    assert any(w.inexact for w in want) and any(w.nan for w in want)


def random_dots(rng, count, max_blocks):
    spreads = [0, 2, 4, 8, 16, 30, 40, 60, 120]
    return [random_dot(rng, int(rng.integers(1, max_blocks + 1)),
                       spreads[rng.integers(len(spreads))]) for _ in range(count)]


@pytest.mark.parametrize("frac_bits", [FRAC_BITS, 0, FRAC_BITS_MAX])
def test_random_dots_with_stalls(frac_bits, seed):
    """Random dot products of 1..8 blocks, idle input with junk (scales and anchor junk too
    on beats that do not end a block), output backpressure, ``last`` on a data beat."""
    rng, rnd = np.random.default_rng(seed), random.Random(seed)
    check_dots(MxProcessingElement(k_max=256, frac_bits=frac_bits), random_dots(rng, 100, 8),
               mx_dots, f"seed {seed}", rnd=rnd, stall=0.3)


@pytest.mark.slow
def test_long_random_dots(seed):
    """Full-length dot products (K = 4096, 128 blocks) and many short ones."""
    rng, rnd = np.random.default_rng(seed), random.Random(seed)
    dots = [random_dot(rng, 128, s) for s in (0, 8, 40, 120)] + random_dots(rng, 300, 16)
    check_dots(MxProcessingElement(), dots, mx_dots, f"seed {seed}", rnd=rnd, stall=0.3)


def test_latency_and_back_to_back_dots():
    """No stall: the result is on ``o`` LATENCY cycles after the last beat's handshake, and
    dot products follow each other with no bubble."""
    rng = np.random.default_rng(3)
    dots = [random_dot(rng, blocks, 4) for blocks in (1, 1, 2, 1)]
    beats = sum((dot_beats(*d) for d in dots), [])
    got, sent, taken = run(MxProcessingElement(), beats, len(dots), rnd=random.Random(3))
    assert got == expected(dots)
    assert sent == list(range(len(beats)))
    lasts = np.cumsum([len(d[0]) for d in dots]) - 1
    assert taken == [sent[i] + LATENCY for i in lasts]


def malformed_fields(rng):
    """Directed streams that break the contract (k_max = 64: two blocks), each followed by a
    well-formed dot product that must come out clean."""
    def fields(blocks, anchor=None):
        a, b, sa, sb = random_dot(rng, blocks, 6)
        return dot_fields(a, b, sa, sb, anchor=anchor)

    def flags(beats, **changes):
        for i, values in changes.items():
            beats[int(i[1:])] |= values
        return beats

    short = flags(fields(2), i20={"block_last": 1})
    long_block = flags(fields(2), i31={"block_last": 0})
    cut = fields(2)[:45]
    cut[-1]["last"] = 1
    a, b = rng.integers(0, 16, 2 * MXFP4_BLOCK), rng.integers(0, 16, 2 * MXFP4_BLOCK)
    low_anchor = dot_fields(a, b, [100, 120], [100, 90], anchor=207)
    last_only = fields(1)
    last_only[-1]["block_last"] = 0
    streams = [short, long_block, cut, fields(3), low_anchor, last_only]
    return [beat for s in streams for beat in s + fields(2)], len(streams)


def test_malformed_streams_match_the_documented_answer():
    rng = np.random.default_rng(5)
    dut = MxProcessingElement(k_max=64)
    fields, count = malformed_fields(rng)
    want = pe_model(fields, k_max=64, frac_bits=FRAC_BITS, acc_width=dut.acc_width)
    assert [w.malformed for w in want] == [True, False] * count
    got = run(dut, pack_beats(fields), len(want), rnd=random.Random(5), stall=0.2)[0]
    assert got == want


def test_random_framing_matches_the_documented_answer(seed):
    """Random flags: ``block_last`` and ``last`` anywhere, NaN scales, anchors too low or high."""
    rng, rnd = np.random.default_rng(seed), random.Random(seed)
    dut = MxProcessingElement(k_max=64)
    fields = []
    while len(fields) < 1500:
        k = int(rng.integers(1, 120))
        anchor = int(rng.integers(0, 2 * SCALE_MAX + 1))
        for i in range(k):
            sa, sb = (NAN if rng.random() < 0.03 else int(rng.integers(0, 255))
                      for _ in range(2))
            fields.append({"a": int(rng.integers(16)), "b": int(rng.integers(16)),
                           "scale_a": sa, "scale_b": sb, "anchor": anchor,
                           "block_last": int(rng.random() < 0.05 or (i % 32 == 31 and
                                                                     rng.random() < 0.8)),
                           "last": int(i == k - 1)})
    want = pe_model(fields, k_max=64, frac_bits=FRAC_BITS, acc_width=dut.acc_width)
    got = run(dut, pack_beats(fields), len(want), rnd=rnd, stall=0.3)[0]
    bad = next((k for k, (g, w) in enumerate(zip(got, want)) if g != w), None)
    assert got == want, f"seed {seed}: dot {bad}: got {got[bad]}, model {want[bad]}"


@pytest.mark.parametrize("kwargs,error,message", [
    ({"k_max": 0}, TypeError, "k_max must be a positive integer, not 0"),
    ({"k_max": 48}, ValueError, "k_max must be a positive multiple of 32 up to 2^30, not 48"),
    ({"k_max": 2 ** 31}, ValueError, "k_max must be a positive multiple of 32"),
    ({"k_max": 64.0}, TypeError, "k_max must be a positive integer, not 64.0"),
    ({"k_max": True}, TypeError, "k_max must be a positive integer, not True"),
    ({"frac_bits": -1}, ValueError, f"frac_bits must be in 0..{FRAC_BITS_MAX}, not -1"),
    ({"frac_bits": "24"}, TypeError, "frac_bits must be an integer, not '24'"),
])
def test_bad_parameters_are_refused(kwargs, error, message):
    with pytest.raises(error, match=message.replace("^", r"\^")):
        MxProcessingElement(**kwargs)


def test_result_exponent_is_golden(seed):
    """The exponent the anchor implies is the golden model's ``exp``."""
    rng = np.random.default_rng(seed)
    for a, b, sa, sb in random_dots(rng, 50, 4):
        for frac_bits in (0, FRAC_BITS):
            res = gemm_mxfp4(a[None, :], sa[None, :], b[:, None], sb[:, None],
                             frac_bits=frac_bits)
            assert res.exp[0, 0] == result_exponent(anchor_of(sa, sb), frac_bits), seed


def test_accumulator_width_is_golden_and_holds_k_max():
    assert MxProcessingElement().acc_width == 45
    assert MxProcessingElement(k_max=32, frac_bits=0).acc_width == 14
    assert MxResult(0, False, False) == MxResult(0, False, False, False)
