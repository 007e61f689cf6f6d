"""golden.backend: the fused operations of TableBackend against their definitions.

:class:`golden.backend.BackendBase` defines each fused operation as the primitives called one
after the other; TableBackend overrides them. Every override must return exactly what its
definition returns on the same backend (whose primitives the other tests compare with the
reference) and on the reference NumpyBackend, errors included.
"""

from __future__ import annotations

import numpy as np
import pytest

from golden.backend import BackendBase, NumpyBackend, TableBackend
from golden.checks import READOUT_OFFSET_MAX, SCALE_EXP_MAX, SCALE_EXP_MIN
from golden.gemm import max_safe_k

ALL_FP16 = np.arange(65536, dtype=np.uint16).view(np.float16)


def _same(got, want):
    """Equal arrays (dtype, shape, every bit) or equal tuples of them, recursively (the
    reference returns a 0-d result as a NumPy scalar)."""
    if isinstance(want, (np.ndarray, np.generic)):
        got, want = np.asarray(got), np.asarray(want)
        assert got.dtype == want.dtype and got.shape == want.shape
        assert got.tobytes() == want.tobytes()
        return
    assert type(got) is type(want) and len(got) == len(want)
    for u, v in zip(got, want):
        _same(u, v)


def _tpr_all(backend, fp16, **kw):
    return (backend.quantize_grad_tpr(fp16, **kw),
            BackendBase.quantize_grad_tpr(backend, fp16, **kw),
            BackendBase.quantize_grad_tpr(NumpyBackend(), fp16, **kw))


def test_tpr_quantization_on_every_fp16(seed):
    """Every FP16 pattern (NaN, Inf, subnormals, saturating magnitudes), both roundings, a
    random g, the two ends of g's range and g = 7, whose phase 1 shares phase 0's g + 1."""
    fast = TableBackend()
    rng = np.random.default_rng(seed)
    seeds = (seed % (2 ** 32 - 1) + 1, int(rng.integers(1, 2 ** 32)))
    for g in (int(rng.integers(-30, 30)), SCALE_EXP_MIN, SCALE_EXP_MAX, 7):
        for rounding, s in (("nearest", None), ("stochastic", seeds),
                            ("stochastic", (seeds[0], seeds[0])), ("stochastic", None)):
            got, own, ref = _tpr_all(fast, ALL_FP16, scale_exp=g, rounding=rounding, seeds=s)
            _same(got, own)
            _same(got, ref)
            assert got[0].saturated.any() == (g >= -9)          # 65504 * 2^g > 64


def test_tpr_quantization_shapes_and_layouts(seed):
    """Any shape and layout, in C order: one draw per element in each phase's stream, partial
    and several blocks of the table-driven stream, empty and 0-d tensors."""
    fast = TableBackend()
    rng = np.random.default_rng(seed)
    seeds = (seed % (2 ** 32 - 1) + 1, int(rng.integers(1, 2 ** 32)))
    x = (rng.standard_normal((3, 5, 700)) * rng.choice([1e-4, 1.0, 300.0])).astype(np.float16)
    x.reshape(-1)[rng.integers(0, x.size, 20)] = rng.choice([np.inf, -np.inf, np.nan], 20)
    for arr in (x, x[:, ::2, 1:], x.transpose(2, 0, 1), x[0, 0, :1], x[:0], x[1, 2, 3]):
        for rounding, s in (("nearest", None), ("stochastic", seeds)):
            g = int(rng.integers(-2, 12))
            got, own, ref = _tpr_all(fast, np.asarray(arr), scale_exp=g, rounding=rounding,
                                     seeds=s)
            _same(got, own)
            _same(got, ref)
            assert got[0].codes.shape == np.shape(arr)


def test_tpr_quantization_errors_are_the_definitions():
    fast, ref = TableBackend(), NumpyBackend()
    x = np.ones((4, 4), np.float16)
    for kw in ({"scale_exp": SCALE_EXP_MAX + 1}, {"scale_exp": SCALE_EXP_MIN - 1},
               {"scale_exp": True}, {"scale_exp": 1.0}, {"rounding": "up"},
               {"seeds": (0, 5)}, {"seeds": (5, 2 ** 32)}, {"seeds": (5, True)},
               {"rounding": "nearest", "seeds": (5, 6)}, {"rounding": "nearest",
                                                           "seeds": (None, 6)},
               {"seeds": (5,)}):
        args = {"scale_exp": 3, "rounding": "stochastic", "seeds": (5, 6)} | kw
        errors = []
        for call in (lambda: fast.quantize_grad_tpr(x, **args),
                     lambda: BackendBase.quantize_grad_tpr(fast, x, **args),
                     lambda: ref.quantize_grad_tpr(x, **args)):
            with pytest.raises((TypeError, ValueError)) as info:
                call()
            errors.append((type(info.value), str(info.value)))
        # The definition's error on the same backend (the reference raises too).
        assert errors[0] == errors[1], kw
    with pytest.raises(TypeError, match="float16"):
        fast.quantize_grad_tpr(x.astype(np.float32), scale_exp=0, rounding="nearest",
                               seeds=None)


@pytest.mark.parametrize("seed_value", ["1", 1.5, True, 0, 2 ** 32, -3])
def test_table_seed_errors_are_the_reference_errors(seed_value):
    """A bad stochastic seed raises the reference's exception type, with its message."""
    x = np.ones(3, np.float16)
    errors = []
    for backend in (TableBackend(), NumpyBackend()):
        with pytest.raises((TypeError, ValueError)) as info:
            backend.quantize_grad(x, phase=0, scale_exp=0, rounding="stochastic",
                                  seed=seed_value)
        errors.append((type(info.value), str(info.value)))
    assert errors[0] == errors[1]


def _gemm_readout_all(backend, a, b, **kw):
    return (backend.gemm_readout(a, b, **kw), BackendBase.gemm_readout(backend, a, b, **kw),
            BackendBase.gemm_readout(NumpyBackend(), a, b, **kw))


@pytest.mark.parametrize("a_format,b_format", [("uint4", "int4"), ("uint4", "r4"),
                                               ("int4", "r4"), ("int4", "uint4")])
def test_gemm_readout_is_gemm_then_readout(a_format, b_format, seed):
    """Random codes up to the largest K the float32 path serves, every read-out offset class
    (FP16 subnormal results, ties, saturating results, the ends of the offset range, offsets
    below the fast path's -37), both phases, C/F-ordered, strided and odd-width operands."""
    fast = TableBackend()
    rng = np.random.default_rng(seed)
    k_big = fast._k_limit(a_format, b_format, 32)
    for k in (1, 7, 64, int(rng.integers(100, 1000)), k_big):
        a = rng.integers(0, 16, (6, k), dtype=np.uint8)
        b = rng.integers(0, 16, (k, 9), dtype=np.uint8)
        for off in (-38, -37, int(rng.integers(-36, -8)), -7, 0, int(rng.integers(1, 12)),
                    40, READOUT_OFFSET_MAX):
            phase = int(rng.integers(0, 2))
            for aa, bb in ((a, b), (np.asfortranarray(a), b.T.copy().T), (a[:, ::2], b[::2]),
                           (a[:, :3], b[:3, :5])):
                got, own, ref = _gemm_readout_all(fast, aa, bb, a_format=a_format,
                                                  b_format=b_format, phase=phase, acc_width=32,
                                                  exp_offset=off)
                _same(got, own)
                _same(got, ref)


def test_gemm_readout_saturation_and_edges(seed):
    """A saturating accumulator (K beyond the bound of a narrow accumulator), read-outs that
    saturate to 65504, empty products, and errors: exactly the definition's."""
    fast = TableBackend()
    rng = np.random.default_rng(seed)
    k = max_safe_k("uint4", "int4", 18) + 200
    a = np.full((3, k), 15, np.uint8)
    b = rng.choice(np.array([7, 9], np.uint8), (k, 4))
    b[:, 0] = 7
    got, own, ref = _gemm_readout_all(fast, a, b, a_format="uint4", b_format="int4", phase=0,
                                      acc_width=18, exp_offset=-5)
    assert got.overflow.any()
    _same(got, own)
    _same(got, ref)
    a = rng.integers(0, 16, (5, 300), dtype=np.uint8)
    a[0] = 0                                             # a row that does not saturate
    b = rng.integers(0, 16, (300, 4), dtype=np.uint8)
    got, own, ref = _gemm_readout_all(fast, a, b, a_format="uint4", b_format="uint4", phase=0,
                                      acc_width=32, exp_offset=5)
    assert got.readout.overflow.any() and not got.readout.overflow.all()
    _same(got, own)
    _same(got, ref)
    # 15 * column sum: 65505 rounds to 65504; 65520 (half an ULP above) and 65535 saturate.
    cols = []
    for total in (4367, 4368, 4369, 100):
        col = np.zeros(292, np.uint8)
        col[:total // 15] = 15
        col[total // 15] = total % 15
        cols.append(col)
    got, own, ref = _gemm_readout_all(fast, np.full((2, 292), 15, np.uint8), np.stack(cols, 1),
                                      a_format="uint4", b_format="uint4", phase=0, acc_width=32,
                                      exp_offset=0)
    assert got.readout.overflow[0].tolist() == [False, True, True, False]
    _same(got, own)
    _same(got, ref)
    # K * the largest product (15 * -8) is exactly -65520, and reached: it saturates.
    neg = np.full((546, 3), 8, np.uint8)
    neg[:, 1] = 7
    got, own, ref = _gemm_readout_all(fast, np.full((2, 546), 15, np.uint8), neg,
                                      a_format="uint4", b_format="int4", phase=0, acc_width=32,
                                      exp_offset=0)
    assert got.readout.overflow[0].tolist() == [True, False, True]
    _same(got, own)
    _same(got, ref)
    for aa, bb in ((a[:0], b), (a, b[:, :0]), (a[:, :0], b[:0])):
        _same(*_gemm_readout_all(fast, aa, bb, a_format="uint4", b_format="uint4", phase=0,
                                 acc_width=32, exp_offset=0)[:2])
    for kw in ({"exp_offset": True}, {"exp_offset": 1.0}, {"exp_offset": READOUT_OFFSET_MAX + 1},
               {"phase": 2}, {"phase": 1.0}, {"a_format": "r4"}, {"acc_width": 17},
               {"b_format": "fp16"}):
        args = {"a_format": "uint4", "b_format": "r4", "phase": 0, "acc_width": 32,
                "exp_offset": 0} | kw
        errors = []
        for call in (fast.gemm_readout, NumpyBackend().gemm_readout):
            with pytest.raises((TypeError, ValueError)) as info:
                call(a, b, **args)
            errors.append((type(info.value), str(info.value)))
        assert errors[0] == errors[1], kw
    bad = b.copy()
    bad[0, 0] = 16
    with pytest.raises(ValueError):
        fast.gemm_readout(a, bad, a_format="uint4", b_format="r4", phase=0, acc_width=32,
                          exp_offset=0)


@pytest.mark.parametrize("seeds", [(1,), 5, (1, 2, 3), "12", {1, 2}])
def test_tpr_seeds_must_be_a_pair(seeds):
    x = np.ones(4, np.float16)
    for backend in (TableBackend(), NumpyBackend()):
        with pytest.raises(TypeError, match=r"seeds must be None or a pair \(phase-0 seed, "
                                            r"phase-1 seed\), not "):
            backend.quantize_grad_tpr(x, scale_exp=0, rounding="stochastic", seeds=seeds)
    a, b = TableBackend().quantize_grad_tpr(x, scale_exp=0, rounding="stochastic", seeds=[3, 4])
    assert a.codes.shape == b.codes.shape == (4,)
