"""golden.gemm: exact products for every code pair, saturation, the K bound, FP16 accumulation."""

from __future__ import annotations

import numpy as np
import pytest

from golden.backend import TableBackend
from golden.formats import int4_decode, r4_decode
from golden.format_table import GEMM_MODES
from golden.gemm import (ACC_WIDTH_MAX, AccumulatorBoundError, GemmResult, SaturationWarning,
                         check_k_bound, gemm,
                         gemm_fp16, max_product, max_safe_k, operand_values, readout)

#: Every (operand A, operand B) format pair of the format table.
PAIRS = sorted({(a, b) for a, b, _ in GEMM_MODES})


def _real(codes, fmt, phase):
    if fmt == "int4":
        return int4_decode(codes).astype(np.float64)
    if fmt == "uint4":
        return codes.astype(np.float64)
    return r4_decode(codes, phase=phase) * 2.0 ** 7      # R4 products are in units of 2^-7


@pytest.mark.parametrize("a_format,b_format", PAIRS)
@pytest.mark.parametrize("phase", [0, 1])
def test_every_code_pair_is_the_exact_product(a_format, b_format, phase):
    codes = np.arange(16, dtype=np.uint8)
    a = np.repeat(codes, 16).reshape(256, 1)
    b = np.tile(codes, 16).reshape(1, 256)
    acc = gemm(a, b, a_format=a_format, b_format=b_format, phase=phase)
    assert acc.dtype == np.int64
    # K = 1: every output is one product; all 256 pairs appear (on the block diagonal too).
    want = np.outer(_real(a[:, 0], a_format, phase), _real(b[0], b_format, phase))
    assert np.array_equal(acc, want)


@pytest.mark.parametrize("a_format,b_format", PAIRS)
def test_random_gemm_matches_integer_reference(a_format, b_format, seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 16, (17, 300), dtype=np.uint8)
    b = rng.integers(0, 16, (300, 9), dtype=np.uint8)
    phase = int(rng.integers(0, 2))
    want = operand_values(a, a_format) @ operand_values(b, b_format, phase=phase)
    res = gemm(a, b, a_format=a_format, b_format=b_format, phase=phase, flags=True)
    assert isinstance(res, GemmResult)
    assert np.array_equal(res.acc, want) and not res.overflow.any()
    fast = TableBackend().gemm(a, b, a_format=a_format, b_format=b_format, phase=phase,
                               acc_width=32)
    assert np.array_equal(fast.acc, res.acc) and np.array_equal(fast.overflow, res.overflow)


def test_k_bound_values():
    assert max_product("uint4", "r4") == 15 * 2 ** 13
    assert max_safe_k("uint4", "r4", 32) >= 16384          # docs/numerics.md section 6
    assert max_safe_k("uint4", "r4", 18) == 1
    assert check_k_bound(16384, "uint4", "r4") == 16384
    with pytest.raises(AccumulatorBoundError, match="exceeds the guaranteed bound"):
        check_k_bound(max_safe_k("uint4", "r4") + 1, "uint4", "r4")


def test_beyond_the_bound_saturates_with_a_flag_or_raises_when_strict():
    width = 20
    k = max_safe_k("uint4", "r4", width) + 1
    a = np.full((2, k), 15, dtype=np.uint8)
    a[1] = 0
    b = np.full((k, 1), 7, dtype=np.uint8)                 # +2^13 (phase 0)
    res = gemm(a, b, a_format="uint4", b_format="r4", acc_width=width, flags=True)
    assert res.acc[0, 0] == 2 ** (width - 1) - 1 and res.overflow[0, 0]
    assert res.acc[1, 0] == 0 and not res.overflow[1, 0]
    with pytest.raises(AccumulatorBoundError):
        gemm(a, b, a_format="uint4", b_format="r4", acc_width=width, strict=True)
    # Without flags the saturated values come back with a warning, never silently.
    with pytest.warns(SaturationWarning, match="gemm: 1 accumulators saturated"):
        acc = gemm(a, b, a_format="uint4", b_format="r4", acc_width=width)
    assert np.array_equal(acc, res.acc)
    # The table backend hands the general case to the reference: same flags.
    fast = TableBackend().gemm(a, b, a_format="uint4", b_format="r4", phase=0, acc_width=width)
    assert np.array_equal(fast.acc, res.acc) and np.array_equal(fast.overflow, res.overflow)


def sticky_reference(a, b, width):
    """Sticky saturation in plain Python ints, one output at a time: walk K in order and stop
    at the first partial sum outside the signed ``width``-bit range, whose side picks the rail."""
    lo, hi = -(2 ** (width - 1)), 2 ** (width - 1) - 1
    acc = np.zeros((a.shape[0], b.shape[1]), dtype=np.int64)
    flag = np.zeros(acc.shape, dtype=bool)
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            total = 0
            for x, y in zip(a[i].tolist(), b[:, j].tolist()):
                total += x * y
                if not lo <= total <= hi:
                    acc[i, j], flag[i, j] = (hi if total > hi else lo), True
                    break
            else:
                acc[i, j] = total
    return acc, flag


def drifting_operands(rng, a_format, b_format, phase, shape):
    """(M, K) A and (K, N) B codes whose products are mostly the largest of one sign over the
    first half of K and the largest of the other sign (if any) over the second half."""
    m, k, n = shape
    av = operand_values(np.arange(16), a_format)
    bv = operand_values(np.arange(16), b_format, phase=phase)
    ends = [(int(x), int(y)) for x in (av.argmax(), av.argmin())
            for y in (bv.argmax(), bv.argmin())]
    up = max(ends, key=lambda c: abs(av[c[0]] * bv[c[1]]))
    down = min(ends, key=lambda c: av[c[0]] * bv[c[1]] * np.sign(av[up[0]] * bv[up[1]]))
    a = np.empty((m, k), dtype=np.int64)
    b = np.empty((k, n), dtype=np.int64)
    a[:, :k // 2], b[:k // 2] = up
    a[:, k // 2:], b[k // 2:] = down
    a = np.where(rng.random(a.shape) < 0.9, a, rng.integers(0, 16, a.shape))
    b = np.where(rng.random(b.shape) < 0.9, b, rng.integers(0, 16, b.shape))
    return a.astype(np.uint8), b.astype(np.uint8)


@pytest.mark.parametrize("a_format,b_format", PAIRS)
@pytest.mark.parametrize("width", [18, 20])
def test_saturation_is_sticky_like_a_plain_loop(a_format, b_format, width, seed):
    """Saturating GEMMs against the plain loop: K = 3 x the bound, partial sums driven across
    one rail and (where the formats have products of both signs) back down again."""
    rng = np.random.default_rng(seed)
    phase = int(rng.integers(0, 2))
    # 3 x the bound, for this phase's products (R4 phase 1 products are half those of phase 0).
    top = np.abs(np.outer(operand_values(np.arange(16), a_format),
                          operand_values(np.arange(16), b_format, phase=phase))).max()
    k = 3 * ((2 ** (width - 1) - 1) // int(top)) + 5
    a, b = drifting_operands(rng, a_format, b_format, phase, (4, k, 3))
    av, bv = operand_values(a, a_format), operand_values(b, b_format, phase=phase)
    want_acc, want_flag = sticky_reference(av, bv, width)
    res = gemm(a, b, a_format=a_format, b_format=b_format, phase=phase, acc_width=width,
               flags=True)
    assert np.array_equal(res.acc, want_acc) and np.array_equal(res.overflow, want_flag)
    assert res.overflow.any(), "the stimulus should saturate"
    fast = TableBackend().gemm(a, b, a_format=a_format, b_format=b_format, phase=phase,
                               acc_width=width)
    assert np.array_equal(fast.acc, res.acc) and np.array_equal(fast.overflow, res.overflow)


def test_sticky_saturation_differs_from_clamping_every_add():
    """First overflow upwards, then products pull the sum back down: the result stays on the
    top rail (a clamp after every add would end in range, or here even on the bottom rail)."""
    width = 18
    hi, lo = 2 ** (width - 1) - 1, -(2 ** (width - 1))
    a = np.full((1, 5), 15, dtype=np.uint8)
    b = np.array([[0b0111], [0b0111], [0b1111], [0b1111], [0b1111]], dtype=np.uint8)
    # Exact partial sums: 122880, 245760 (> hi: the first overflow), 122880, 0, -122880.
    res = gemm(a, b, a_format="uint4", b_format="r4", acc_width=width, flags=True)
    assert res.acc[0, 0] == hi and res.overflow[0, 0]
    clamped = 0
    for p in operand_values(b[:, 0], "r4") * 15:
        clamped = min(max(clamped + int(p), lo), hi)
    assert clamped == lo                                 # what per-add clamping would give
    # Only the first three: the sum is back in range, yet the flag and the rail stay.
    res3 = gemm(a[:, :3], b[:3], a_format="uint4", b_format="r4", acc_width=width, flags=True)
    assert res3.acc[0, 0] == hi and res3.overflow[0, 0]
    # Downwards first: the bottom rail, whatever follows.
    res_neg = gemm(a, b[::-1], a_format="uint4", b_format="r4", acc_width=width, flags=True)
    assert res_neg.acc[0, 0] == lo and res_neg.overflow[0, 0]


def test_shape_and_format_errors():
    a = np.zeros((2, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="inner dimensions"):
        gemm(a, np.zeros((4, 2), dtype=np.uint8), a_format="uint4", b_format="int4")
    with pytest.raises(ValueError, match="2-D"):
        gemm(a[0], a, a_format="uint4", b_format="int4")
    with pytest.raises(ValueError, match="a_format"):
        gemm(a, a.T, a_format="r4", b_format="int4")
    with pytest.raises(ValueError, match="4-bit codes"):
        gemm(a + 16, a.T, a_format="uint4", b_format="int4")
    with pytest.raises(ValueError, match="inner dimensions"):
        gemm_fp16(a, a, a_format="uint4", b_format="int4")
    with pytest.raises(ValueError, match="exp_offset must be in"):
        gemm_fp16(a, a.T, a_format="uint4", b_format="int4", exp_offset=10000)
    # A phase is the integer 0 or 1: not a float, a bool or an array.
    for bad in (1.0, True, np.array([0, 1]), 2):
        with pytest.raises(ValueError, match="phase must be 0 or 1"):
            gemm(a, a.T, a_format="uint4", b_format="r4", phase=bad)
        with pytest.raises(ValueError, match="phase must be 0 or 1"):
            gemm_fp16(a, a.T, a_format="uint4", b_format="r4", phase=bad)
    assert gemm(a, a.T, a_format="uint4", b_format="r4", phase=np.int64(1)).shape == (2, 2)


def test_readout_rounding_subnormals_and_saturation():
    acc = np.array([2049, 2051, 1, 3, 65504, 65520, -65520, 0])
    out = readout(acc, exp_offset=0, flags=True)
    assert out.values.tolist()[:2] == [2048.0, 2052.0]       # ties to even
    assert out.values[4] == 65504 and not out.overflow[4]
    assert out.values[5] == 65504 and out.values[6] == -65504
    assert out.overflow.tolist() == [False] * 5 + [True, True, False]
    with pytest.warns(SaturationWarning, match=r"readout: 2 results \(to \+-65504\)"):
        assert readout(acc).tolist() == out.values.tolist()
    sub = readout(np.array([1, 3]), exp_offset=-25)          # 2^-25 ties to 0, 3*2^-25 -> 2^-23
    assert sub.tolist() == [0.0, 2.0 ** -23]


def test_readout_takes_the_whole_48_bit_range_and_no_more():
    top = 2 ** (ACC_WIDTH_MAX - 1)
    assert readout(np.array([-top, top - 1]), exp_offset=-40).tolist() == [-128.0, 128.0]
    for bad in (-top - 1, top):
        with pytest.raises(ValueError, match="48 signed bits"):
            readout(np.array([bad]))
    # Unsigned input is range-checked before any cast (2^64 - 1 must not wrap to -1).
    with pytest.raises(ValueError, match="48 signed bits"):
        readout(np.array([2 ** 64 - 1], dtype=np.uint64))
    assert readout(np.array([3], dtype=np.uint64)).tolist() == [3.0]


def test_fp16_accumulation_swamps_where_exact_does_not():
    # Above 2048 the FP16 spacing is 2: every +1 ties back to the even neighbour.
    big = np.array([[15] * 20 + [1] * 64], dtype=np.uint8)
    bb = np.array([[7]] * 20 + [[1]] * 64, dtype=np.uint8)     # 2100, then 64 ones
    acc16 = gemm_fp16(big, bb, a_format="uint4", b_format="int4")
    assert gemm(big, bb, a_format="uint4", b_format="int4")[0, 0] == 2164
    assert acc16[0, 0] == 2100                                  # every +1 is lost
    res = gemm_fp16(np.full((1, 700), 15, dtype=np.uint8), np.full((700, 1), 7, dtype=np.uint8),
                    a_format="uint4", b_format="int4", flags=True)
    assert res.values[0, 0] == 65504 and res.overflow[0, 0]
    with pytest.warns(SaturationWarning, match="gemm_fp16: 1 sums"):
        gemm_fp16(np.full((1, 700), 15, dtype=np.uint8), np.full((700, 1), 7, dtype=np.uint8),
                  a_format="uint4", b_format="int4")


def test_fp16_accumulation_table_backend_is_identical(seed):
    rng = np.random.default_rng(seed)
    tb = TableBackend()
    for a_format, b_format, offset in [("uint4", "int4", 0), ("uint4", "r4", -15),
                                       ("int4", "r4", -3), ("uint4", "r4", -28)]:
        phase = int(rng.integers(0, 2))
        a = rng.integers(0, 16, (7, 400), dtype=np.uint8)
        b = rng.integers(0, 16, (400, 5), dtype=np.uint8)
        ref = gemm_fp16(a, b, a_format=a_format, b_format=b_format, phase=phase,
                        exp_offset=offset, flags=True)
        got = tb.gemm_fp16(a, b, a_format=a_format, b_format=b_format, phase=phase,
                           exp_offset=offset)
        assert np.array_equal(ref.values.view(np.uint16), got.values.view(np.uint16))
        assert np.array_equal(ref.overflow, got.overflow)
