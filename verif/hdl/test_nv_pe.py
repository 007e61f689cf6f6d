# amaranth: UnusedElaboratable=no
"""Amaranth-simulator tests of the NVFP4 PE against golden.gemm_nv (equality only).

Every E2M1 code pair; every E4M3 scale code (NaN and subnormals included) as A's and as B's
against three partners (all 65536 pairs under cocotb); every exponent difference of the
window at three widths; random multi-block dot products with idle input, junk payloads and
output backpressure; streams that break the framing or anchor contract against the PE's
documented answer
(:func:`verif.lib.nv_dots.pe_model`).
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from golden.gemm_nv import FRAC_BITS, FRAC_BITS_MAX, gemm_nvfp4
from golden.mx import NVFP4_BLOCK
from hdl.nv_pe import LATENCY, NvProcessingElement, nv_result_exponent
from verif.lib import nv_dots
from verif.lib.block_pe_sim import check_dots, run
from verif.lib.nv_dots import (NANS, anchor_of, dot_beats, dot_fields, golden_dot, pack_beats,
                               pe_model, random_dot)

B = NVFP4_BLOCK


def expected(dots, frac_bits=FRAC_BITS):
    return [golden_dot(a, b, sa, sb, frac_bits) for a, b, sa, sb in dots]


def test_every_code_pair():
    """All 256 E2M1 code pairs, each the one nonzero product of its own block (the others +-0
    codes) under scales 1 x -1.5, then the largest block values +-518400."""
    dots = []
    for k, (x, y) in enumerate(np.ndindex(16, 16)):
        a, b = 8 * np.arange(B) % 16, 8 * (np.arange(B) // 2 % 2)
        a[k % B], b[k % B] = x, y
        dots.append((a, b, [0x38], [0xBC]))
    for x, y, s in ((7, 7, 0x77), (7, 15, 0x77), (15, 15, 0xF7), (6, 14, 0x7E)):
        dots.append((np.full(B, x), np.full(B, y), [s], [s]))
    want = check_dots(NvProcessingElement(k_max=64), dots, nv_dots, "code pairs",
                      rnd=random.Random(1))
    assert {w.acc >> FRAC_BITS for w in want[256:260]} >= {518400, -518400}


#: The other operand's scales in the scale-code sweep: a negative subnormal (significand 5),
#: a normal (significand 11, field 9) and the largest, 448.
PARTNERS = (0x85, 0x4B, 0x7E)


def scale_pair_dots(rng, pairs):
    """One block of random codes per scale pair, after an anchor block at the top exponent
    (fields 15 + 15), so every exponent difference 0..28 is shifted."""
    dots = []
    for sa, sb in pairs:
        a, b = rng.integers(0, 16, 2 * B), rng.integers(0, 16, 2 * B)
        dots.append((a, b, [0x7E, sa], [0x7E, sb]))
    return dots


def test_every_scale_code():
    """Every E4M3 code (NaN, zeros, subnormals, +-448) as A's and as B's scale, against three
    partners, at the default window (exact). All 65536 pairs run under cocotb
    (verif/rtl/test_nv_pe.py, slow)."""
    pairs = [(c, p) for c in range(256) for p in PARTNERS]
    dots = scale_pair_dots(np.random.default_rng(7), pairs + [(p, c) for c, p in pairs])
    want = check_dots(NvProcessingElement(k_max=32), dots, nv_dots, "scale codes",
                      rnd=random.Random(7), junk=False)
    assert sum(w.nan for w in want) == 2 * 2 * len(PARTNERS)


def shift_dots(rng):
    """Two-block dot products: an anchor block and a block s binades below it for every s
    0..28, odd block values of both signs (the sticky flag), both orders, some anchored by a
    block of zero codes."""
    dots = []
    for s in range(29):
        for sign in (0, 0x80):
            top = int(rng.integers(2 + s, 31))
            fa = int(rng.integers(max(1, top - 15), min(15, top - 1) + 1))
            low = top - s
            fb = int(rng.integers(max(1, low - 15), min(15, low - 1) + 1))
            code = lambda f: (f << 3 | int(rng.integers(0, 7 if f == 15 else 8)))  # noqa: E731
            anchor_block = rng.integers(0, 16, B)
            if s % 3 == 0:
                anchor_block[:] = 0
            # One sign, an odd block value: a product of one unit, odd significands.
            shifted = np.concatenate([[1], rng.integers(0, 8, B - 1)])
            a = np.concatenate([anchor_block, shifted])
            b = np.concatenate([rng.integers(0, 16, B), np.ones(B, int)])
            sa = [code(fa), code(fb) | 1 | sign]
            sb = [code(top - fa), code(low - fb) | 1]
            dots.append((a, b, sa, sb))
            dots.append((np.roll(a, B), np.roll(b, B), sa[::-1], sb[::-1]))
    return dots


@pytest.mark.parametrize("frac_bits", [FRAC_BITS, 12, 4])
def test_every_shift_and_nan_scale(frac_bits):
    rng = np.random.default_rng(frac_bits)
    a, b = rng.integers(0, 16, 2 * B), rng.integers(0, 16, 2 * B)
    nan_dots = [(a[:B], b[:B], [NANS[0]], [0x38]), (a[:B], b[:B], [0x38], [NANS[1]]),
                (a, b, [NANS[1], 0x20], [0x7E, 0x20]), (a, b, [0x7E, 0x7E], [0x20, NANS[0]])]
    dots = shift_dots(rng) + nan_dots
    want = check_dots(NvProcessingElement(k_max=32, frac_bits=frac_bits), dots, nv_dots,
                      f"frac_bits {frac_bits}", rnd=random.Random(2))
    assert any(w.nan for w in want)
    assert any(w.inexact for w in want) == (frac_bits < FRAC_BITS)


def random_dots(rng, count, max_blocks):
    return [random_dot(rng, int(rng.integers(1, max_blocks + 1)), int(rng.integers(0, 29)))
            for _ in range(count)]


@pytest.mark.parametrize("frac_bits", [FRAC_BITS, 0, 16, FRAC_BITS_MAX])
def test_random_dots_with_stalls(frac_bits, seed):
    """Random dot products of 1..8 blocks, idle input with junk (scales and anchor junk too
    on beats that do not end a block), output backpressure, ``last`` on a data beat."""
    rng, rnd = np.random.default_rng(seed), random.Random(seed)
    check_dots(NvProcessingElement(k_max=128, frac_bits=frac_bits), random_dots(rng, 100, 8),
               nv_dots, f"seed {seed}", rnd=rnd, stall=0.3)


@pytest.mark.slow
def test_long_random_dots(seed):
    """Full-length dot products (K = 4096, 256 blocks) and many short ones."""
    rng, rnd = np.random.default_rng(seed), random.Random(seed)
    dots = [random_dot(rng, 256, s) for s in (0, 8, 28)] + random_dots(rng, 300, 16)
    check_dots(NvProcessingElement(), dots, nv_dots, f"seed {seed}", rnd=rnd, stall=0.3)


def test_latency_and_back_to_back_dots():
    rng = np.random.default_rng(3)
    dots = [random_dot(rng, blocks, 4) for blocks in (1, 1, 2, 1)]
    beats = sum((dot_beats(*d) for d in dots), [])
    got, sent, taken = run(NvProcessingElement(), beats, len(dots), rnd=random.Random(3))
    assert got == expected(dots)
    assert sent == list(range(len(beats)))
    lasts = np.cumsum([len(d[0]) for d in dots]) - 1
    assert taken == [sent[i] + LATENCY for i in lasts] and LATENCY == 7


def test_well_formed_model_is_golden(seed):
    """The framing model on well-formed streams is golden (so it may stand in for it)."""
    rng = np.random.default_rng(seed)
    dots = random_dots(rng, 40, 4)
    fields = sum((dot_fields(*d) for d in dots), [])
    for frac_bits in (0, 5, FRAC_BITS):
        got = pe_model(fields, k_max=64, frac_bits=frac_bits, acc_width=200)
        assert got == expected(dots, frac_bits), seed


def test_random_framing_matches_the_documented_answer(seed):
    """Random flags: ``block_last`` and ``last`` anywhere, NaN scales, anchors too low or high,
    more blocks than k_max; each such stream followed by a well-formed dot product."""
    rng, rnd = np.random.default_rng(seed), random.Random(seed)
    dut = NvProcessingElement(k_max=32, frac_bits=8)
    fields = []
    while len(fields) < 1500:
        k = int(rng.integers(1, 70))
        anchor = int(rng.integers(0, 32))
        for i in range(k):
            sa, sb = (NANS[rng.integers(2)] if rng.random() < 0.03 else int(rng.integers(0, 256))
                      for _ in range(2))
            fields.append({"a": int(rng.integers(16)), "b": int(rng.integers(16)),
                           "scale_a": sa, "scale_b": sb, "anchor": anchor,
                           "block_last": int(rng.random() < 0.05 or (i % B == B - 1 and
                                                                     rng.random() < 0.8)),
                           "last": int(i == k - 1)})
        fields += dot_fields(*random_dot(rng, int(rng.integers(1, 3)), 6))   # well-formed
    want = pe_model(fields, k_max=32, frac_bits=8, acc_width=dut.acc_width)
    assert any(w.malformed for w in want) and not all(w.malformed for w in want)
    got = run(dut, pack_beats(fields), len(want), rnd=rnd, stall=0.3)[0]
    bad = next((k for k, (g, w) in enumerate(zip(got, want)) if g != w), None)
    assert got == want, f"seed {seed}: dot {bad}: got {got[bad]}, model {want[bad]}"


@pytest.mark.parametrize("kwargs,error,message", [
    ({"k_max": 0}, TypeError, "k_max must be a positive integer, not 0"),
    ({"k_max": 24}, ValueError, "k_max must be a positive multiple of 16 up to 2^30, not 24"),
    ({"frac_bits": 34}, ValueError, f"frac_bits must be in 0..{FRAC_BITS_MAX}, not 34"),
    ({"frac_bits": 1.0}, TypeError, "frac_bits must be an integer, not 1.0"),
])
def test_bad_parameters_are_refused(kwargs, error, message):
    with pytest.raises(error, match=message.replace("^", r"\^")):
        NvProcessingElement(**kwargs)


def test_result_exponent_and_width_are_golden(seed):
    rng = np.random.default_rng(seed)
    for a, b, sa, sb in random_dots(rng, 50, 4):
        for frac_bits in (0, FRAC_BITS):
            res = gemm_nvfp4(a[None, :], sa[None, :], b[:, None], sb[:, None],
                             frac_bits=frac_bits)
            assert res.exp[0, 0] == nv_result_exponent(anchor_of(sa, sb), frac_bits), seed
    assert NvProcessingElement().acc_width == 56
    assert NvProcessingElement(k_max=16, frac_bits=0).acc_width == 20
