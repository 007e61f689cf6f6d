"""The RTL backend on the native engine: every operation equal to golden, the same rejections,
faults named instead of hangs, the lockstep check, and training steps of both models.

One configuration serves every test: a 3 x 4 array (rows and columns differ, so a transposed
tile grid cannot pass) with 32-bit accumulators, as training uses; the native models are built
once (``build/native``, under a minute cold).
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Assert, Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden.backend import NumpyBackend, TableBackend
from experiments.data import Dataset, load_digits_split
from golden.format_table import GEMM_MODES
from golden.formats import grad_scale_exp
from hdl.amax import amax_latency
from sim.lockstep import Divergence, LockstepBackend
from sim.native_engine import NativeEngine
from sim.rtl_backend import RtlBackend, RtlFault


@pytest.fixture(scope="module")
def odd_engine():
    """3 x 4 array with 32-bit accumulators: edge tiles in both directions."""
    engine = NativeEngine(3, 4, 32, log=lambda msg: None)
    yield engine
    engine.close()


def _stalling(engine, seed):
    """The same model, with random idle/stall cycles and junk payload from ``seed``."""
    engine.stalls(seed, 0.3, 0.3)
    return engine


def test_gemm_equals_golden(odd_engine, seed):
    rtl, gold = RtlBackend(_stalling(odd_engine, seed)), NumpyBackend()
    rng = np.random.default_rng(seed)
    for af, bf, phase in GEMM_MODES:
        for m, k, n in ((1, 1, 1), (5, 7, 3), (7, 40, 5), (4, 0, 3), (0, 3, 2), (3, 3, 0)):
            a = rng.integers(0, 16, (m, k), dtype=np.uint8)
            b = rng.integers(0, 16, (k, n), dtype=np.uint8)
            kw = dict(a_format=af, b_format=bf, phase=phase, acc_width=32)
            got, want = rtl.gemm(a, b, **kw), gold.gemm(a, b, **kw)
            assert np.array_equal(got.acc, want.acc), (af, bf, phase, m, k, n)
            assert np.array_equal(got.overflow, want.overflow), (af, bf, phase, m, k, n)
    assert rtl.macs > 0 and rtl.cycles["array"] > 0


def test_gemm_saturation_equals_golden(odd_engine, seed):
    """Sticky saturation through the tiling: to either rail, and pulled back after the rail.

    R4 products reach 15 * 2^13 (UINT4) and 7 * 2^13 (INT4): K = 40000 of them leave 32 bits.
    """
    rtl, gold = RtlBackend(_stalling(odd_engine, seed)), NumpyBackend()
    k = 40000
    # Column 0 climbs to the top rail, column 1 falls to the bottom one, column 2 climbs past
    # the top and then falls back into range (the sticky result stays at the rail).
    for af, top in (("uint4", 15), ("int4", 7)):
        b = np.zeros((k, 3), np.uint8)
        b[:, 0], b[:, 1] = 7, 15
        b[:k // 2 + 6000, 2], b[k // 2 + 6000:, 2] = 7, 15
        a = np.full((2, k), top, np.uint8)
        kw = dict(a_format=af, b_format="r4", phase=0, acc_width=32)
        got, want = rtl.gemm(a, b, **kw), gold.gemm(a, b, **kw)
        assert want.overflow[:, 0].all() and want.overflow[:, 1].all(), "must saturate"
        assert np.array_equal(got.acc, want.acc) and np.array_equal(got.overflow, want.overflow)


def test_quantize_and_readout_equal_golden(odd_engine, seed):
    rtl, gold = RtlBackend(_stalling(odd_engine, seed)), NumpyBackend()
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 65536, (9, 7), dtype=np.uint16).view(np.float16)
    for g in (-10, 0, 13):
        for phase in (0, 1):
            for rounding, s in (("nearest", None), ("stochastic", int(rng.integers(1, 2**32)))):
                kw = dict(phase=phase, scale_exp=g, rounding=rounding, seed=s)
                got, want = rtl.quantize_grad(x, **kw), gold.quantize_grad(x, **kw)
                for name, u, v in zip(want._fields, got, want):
                    assert np.array_equal(u, v), (name, g, phase, rounding, s)
                status = rtl.last_grad_status
                assert status["sat_count"] == int(want.saturated.sum())
                # The tracker leaves NaN and Inf out of amax and flags them instead.
                finite = np.isfinite(x)
                assert status["nonfinite"] == (not finite.all())
                assert status["amax"] == int(np.abs(x[finite]).max().view(np.uint16))
                assert status["next_scale_exp"] == grad_scale_exp(x[finite])
    acc = rng.integers(-2 ** 31, 2 ** 31, (5, 9), dtype=np.int64)
    acc[0, :3] = [0, -2 ** 31, 2 ** 31 - 1]
    acc[1] >>= rng.integers(0, 31, 9)                   # every magnitude
    for off in (-256, -30, -7, 0, 255):
        got, want = rtl.readout(acc, exp_offset=off), gold.readout(acc, exp_offset=off)
        assert np.array_equal(got.values.view(np.uint16), want.values.view(np.uint16)), off
        assert np.array_equal(got.overflow, want.overflow), off


def test_cycle_counts_at_full_rate(odd_engine):
    """Without stalls each unit takes its documented cycles (docs/rtl_training.md):
    array tiles * max(K, R + 4) + R + 4, gradient unit beats + 6 + the status settle cycles
    (+ 1 configuration cycle), read-out beats + 8."""
    odd_engine.stalls(0)
    rtl = RtlBackend(odd_engine)
    r, c = rtl.rows, rtl.cols
    for m, k, n in ((3, 7, 2), (7, 40, 5), (6, 8, 4), (12, 100, 9)):
        before = rtl.cycles["array"]
        rtl.gemm(np.ones((m, k), np.uint8), np.ones((k, n), np.uint8), a_format="uint4",
                 b_format="uint4", phase=0, acc_width=32)
        tiles = -(-m // r) * -(-n // c)
        assert rtl.cycles["array"] - before == tiles * max(k, r + 4) + r + 4, (m, k, n)
    for size in (1, 2, 7, 64):
        before = rtl.cycles["gradient_unit"]
        rtl.quantize_grad(np.ones(size, np.float16), phase=0, scale_exp=0, rounding="nearest",
                          seed=None)
        settle = max(amax_latency(c) - 7, 1)
        assert rtl.cycles["gradient_unit"] - before == -(-size // c) + 1 + 6 + settle, size
        before = rtl.cycles["readout"]
        rtl.readout(np.ones(size, np.int64), exp_offset=0)
        assert rtl.cycles["readout"] - before == -(-size // c) + 8, size


BAD_CALLS = [
    ("gemm", (np.zeros((2, 2), np.int64), np.zeros((2, 2), np.uint8)),
     dict(a_format="uint4", b_format="int4", phase=0, acc_width=32)),
    ("gemm", (np.zeros((2, 3), np.uint8), np.zeros((2, 2), np.uint8)),
     dict(a_format="uint4", b_format="int4", phase=0, acc_width=32)),
    ("gemm", (np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8)),
     dict(a_format="r4", b_format="int4", phase=0, acc_width=32)),
    ("gemm", (np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8)),
     dict(a_format="uint4", b_format="r4", phase=2, acc_width=32)),
    ("gemm", (np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8)),
     dict(a_format="uint4", b_format="r4", phase=True, acc_width=32)),
    ("gemm", (np.full((2, 2), 16, np.uint8), np.zeros((2, 2), np.uint8)),
     dict(a_format="uint4", b_format="int4", phase=0, acc_width=32)),
    ("gemm", (np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8)),
     dict(a_format="uint4", b_format="int4", phase=0, acc_width=17)),
    ("gemm", (np.zeros(2, np.uint8), np.zeros((2, 2), np.uint8)),
     dict(a_format="uint4", b_format="int4", phase=0, acc_width=32)),
    ("readout", (np.zeros((2, 2), np.int32),), dict(exp_offset=0)),
    ("readout", (np.zeros((2, 2), np.int64),), dict(exp_offset=256)),
    ("readout", (np.zeros((2, 2), np.int64),), dict(exp_offset=1.0)),
    ("quantize_grad", (np.zeros(3, np.float32),),
     dict(phase=0, scale_exp=0, rounding="nearest", seed=None)),
    ("quantize_grad", (np.zeros(3, np.float16),),
     dict(phase=0, scale_exp=128, rounding="nearest", seed=None)),
    ("quantize_grad", (np.zeros(3, np.float16),),
     dict(phase=0, scale_exp=0.5, rounding="nearest", seed=None)),
    ("quantize_grad", (np.zeros(3, np.float16),),
     dict(phase=0, scale_exp=0, rounding="up", seed=None)),
    ("quantize_grad", (np.zeros(3, np.float16),),
     dict(phase=0, scale_exp=0, rounding="nearest", seed=5)),
    ("quantize_grad", (np.zeros(3, np.float16),),
     dict(phase=0, scale_exp=0, rounding="stochastic", seed=0)),
    ("quantize_grad", (np.zeros(3, np.float16),),
     dict(phase=0, scale_exp=0, rounding="stochastic", seed="1")),
    ("quantize_grad", (np.zeros(3, np.float16),),
     dict(phase=-1, scale_exp=0, rounding="nearest", seed=None)),
]


@pytest.mark.parametrize("op,args,kwargs", BAD_CALLS)
def test_rejects_what_golden_rejects(odd_engine, op, args, kwargs):
    with pytest.raises(Exception) as golden_err:
        getattr(NumpyBackend(), op)(*args, **kwargs)
    rtl = RtlBackend(odd_engine)
    with pytest.raises(type(golden_err.value)):
        getattr(rtl, op)(*args, **kwargs)
    assert sum(rtl.cycles.values()) == 0, "a rejected call must not reach the hardware"


def test_limits_of_the_built_model_are_clear_errors(odd_engine):
    rtl = RtlBackend(odd_engine)
    a = np.zeros((2, 2), np.uint8)
    with pytest.raises(ValueError, match="32-bit"):
        rtl.gemm(a, a, a_format="uint4", b_format="int4", phase=0, acc_width=20)
    with pytest.raises(ValueError, match="32-bit"):
        rtl.readout(np.array([[2 ** 31]]), exp_offset=0)
    with pytest.raises(NotImplementedError, match="golden model only"):
        rtl.gemm_fp16(a, a, a_format="uint4", b_format="int4", phase=0, exp_offset=0)


class _LostBeat:
    """An engine whose DUT never delivers the last result beat: a hang without a budget."""

    def __init__(self, engine):
        self.engine = engine
        self.rows, self.cols, self.acc_width = engine.rows, engine.cols, engine.acc_width

    def set(self, port, value):
        self.engine.set(port, value)

    def get(self, port):
        return self.engine.get(port)

    def step(self, cycles):
        self.engine.step(cycles)

    def run(self, inputs, outputs, *, budget):
        return self.engine.run(inputs, {k: v + 1 for k, v in outputs.items()}, budget=budget)


def test_a_lost_beat_is_a_named_fault_not_a_hang(odd_engine):
    rtl = RtlBackend(_LostBeat(odd_engine))
    a = np.ones((7, 4), np.uint8)
    with pytest.raises(RtlFault, match=r"^array, tile 5 of 6: the hardware stopped answering"):
        rtl.gemm(a, a.T.copy(), a_format="uint4", b_format="uint4", phase=0, acc_width=32)
    with pytest.raises(RtlFault, match=r"^gradient_unit: the hardware stopped answering"):
        rtl.quantize_grad(np.ones(5, np.float16), phase=0, scale_exp=0, rounding="nearest",
                          seed=None)
    with pytest.raises(RtlFault, match=r"^readout: the hardware stopped answering"):
        rtl.readout(np.ones((2, 2), np.int64), exp_offset=0)
    odd_engine.reset()                 # the aborted runs left beats in flight


def test_missing_compiler_is_a_clear_error(monkeypatch, tmp_path):
    from hdl.readout import ReadoutLanes
    from sim import native

    monkeypatch.setattr(native.shutil, "which", lambda name: None)
    component = ReadoutLanes(18, 1)
    component._MustUse__silence = True          # it is never elaborated, by design
    with pytest.raises(native.NativeBuildError, match="needs a C.. compiler"):
        native.build_native(component, "nocompiler", build_root=tmp_path)


class _Checked(wiring.Component):
    """A one-beat stream register whose Verilog asserts that no beat carries 9."""

    def __init__(self):
        super().__init__({"i": In(stream.Signature(4)), "o": Out(stream.Signature(4))})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [self.o.payload.eq(self.i.payload), self.o.valid.eq(1)]
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        m.d.sync += Assert(~self.i.valid | (self.i.payload != 9), "a beat carries 9")
        return m


def test_a_stopping_model_is_a_fault_not_an_exit(tmp_path):
    """A failed assertion ($stop) in a native model ends the run with an error saying how far
    it got, and leaves Python running; a stray result beat is reported by the next run."""
    from sim.native import NativeFault, NativeModel, build_native

    lib, ports = build_native(_Checked(), "checked", build_root=tmp_path, log=lambda m: None)
    model = NativeModel(lib, ports)
    model.reset()
    beats = np.array([[1], [2], [9], [4]], dtype=np.uint32)
    with pytest.raises(NativeFault, match=r"the model stopped") as info:
        model.run({"i": beats}, {"o": 4}, budget=100)
    assert info.value.in_pos["i"][0] == 3          # stopped at the edge that took the 9
    model.close()
    model = NativeModel(lib, ports)
    model.reset()
    model.run({"i": beats[:2]}, {"o": 1}, budget=100)   # the second result stays held
    with pytest.raises(NativeFault, match=r"^o: a result beat nobody asked for"):
        model.run({"i": beats[3:]}, {}, budget=100)
    model.close()


class _Tampered(TableBackend):
    """Golden arithmetic with one accumulator off by one in the n-th GEMM (and the gradient
    unit status an RTL backend reports, taken from the same golden values)."""

    rows, cols = 4, 4

    def __init__(self, nth):
        super().__init__()
        self.nth, self.calls = nth, 0

    def quantize_grad(self, fp16, **kwargs):
        res = super().quantize_grad(fp16, **kwargs)
        mag = fp16.view(np.uint16) & 0x7FFF
        self.last_grad_status = {"amax": int(mag.max()), "nonfinite": False,
                                 "next_scale_exp": grad_scale_exp(fp16),
                                 "sat_count": int(res.saturated.sum())}
        return res

    def gemm(self, *args, **kwargs):
        res = super().gemm(*args, **kwargs)
        self.calls += 1
        if self.calls == self.nth:
            acc = res.acc.copy()
            acc[5, 9] += 1
            res = res._replace(acc=acc)
        return res


def test_lockstep_names_the_first_divergence():
    from experiments.train import train_run

    data = load_digits_split()
    check = LockstepBackend(_Tampered(nth=5), TableBackend())
    # GEMM 5 of step 0 is fc2's dW^T = X^T dY: (128 x 64) @ (64 x 128), 32 column blocks of 4.
    with pytest.raises(Divergence, match=r"^step 0, fc2 backward, array, tile 34 \(row block 1, "
                                         r"column block 2\): gemm uint4 x r4 phase 0 acc "
                                         r"differs in 1 of 16384 elements; first at \(5, 9\)"):
        train_run("mlp", "q4", 1, data=data, backend=check, max_steps=3, on_start=check.bind)


class _Skewed(TableBackend):
    """Golden arithmetic, but read-out zeros come back as -0 and the tracker's amax is 1 high:
    the two differences only a bit-pattern comparison and the tracker check can see."""

    rows, cols = 4, 4

    def readout(self, acc, *, exp_offset):
        res = super().readout(acc, exp_offset=exp_offset)
        values = np.where(acc == 0, np.float16(-0.0), res.values).astype(np.float16)
        return res._replace(values=values)

    def quantize_grad(self, fp16, **kwargs):
        res = super().quantize_grad(fp16, **kwargs)
        self.last_grad_status = {"amax": int(np.abs(fp16).max().view(np.uint16)) + 1,
                                 "nonfinite": False, "next_scale_exp": grad_scale_exp(fp16),
                                 "sat_count": int(res.saturated.sum())}
        return res


def test_lockstep_sees_negative_zero_and_the_tracker():
    check = LockstepBackend(_Skewed(), TableBackend())
    with pytest.raises(Divergence, match=r"^step -, -, readout: readout exp_offset 0 values "
                                         r"differs in 1 of 2 elements; first at \(1,\)"):
        check.readout(np.array([3, 0], np.int64), exp_offset=0)
    x = np.array([0.5, -2.0], np.float16)
    with pytest.raises(Divergence, match=r"^step -, -, gradient unit amax tracker: "
                                         r"quantize_grad phase 0 g 5 nearest: amax is 16385 on "
                                         r"the RTL, 16384 in golden"):
        check.quantize_grad(x, phase=0, scale_exp=5, rounding="nearest", seed=None)


def _digits(n_train, n_test):
    d = load_digits_split()
    return Dataset(d.x_train[:n_train], d.y_train[:n_train], d.x_test[:n_test], d.y_test[:n_test])


@pytest.mark.parametrize("model,batch", [("mlp", 16), ("cnn", 4)])
def test_training_steps_native(odd_engine, seed, model, batch):
    """A few steps of each model on the 3x4 array with stalls: bit-exact with golden."""
    from sim.train_rtl import run

    report = run(model, epochs=1, max_steps=3, batch=batch, engine=_stalling(odd_engine, seed),
                 data=_digits(64, 8), progress=False)
    assert report["steps"] == 3 and report["compared_arrays"] > 100
    assert report["bit_exact"], report
    assert report["sim_cycles"]["gradient_unit"] > 0 and report["sim_cycles"]["readout"] > 0


@pytest.mark.slow
def test_full_mlp_run_on_8x8():
    """The whole MLP schedule on the 8x8 array (what make train-rtl runs), bit-exact."""
    from sim.train_rtl import run

    report = run("mlp", rows=8, cols=8, progress=False)
    assert report["bit_exact"] and report["epochs"] == 30
    assert report["final_acc"] > 90
    assert report["utilization"] >= 0.9


@pytest.mark.parametrize("argv,message", [
    (["--epochs", "0"], "--epochs must be a positive integer"),
    (["--max-steps", "-1"], "--max-steps must be a positive integer"),
    (["--rows", "0"], "--rows must be a positive integer"),
    (["--seed", "0"], "--seed must be in 1..2**32-1"),
    (["--model", "vgg"], "invalid choice: 'vgg'"),
    (["--out", "README.md"], "'README.md' exists and is not a folder"),
])
def test_train_rtl_cli_rejects_bad_arguments(argv, message, capsys):
    from sim.train_rtl import main

    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err
