"""A :class:`golden.backend.Backend` whose every number comes from the generated Verilog.

:class:`RtlBackend` runs the operations of a training step on
:class:`hdl.training_units.TrainingUnits` (built by ``hdl.gen`` from the same sources as
``make verilog``): ``gemm`` on the R x C array, ``quantize_grad`` on the C-lane gradient unit
(with the amax tracker's GradScale exponent read back), ``readout`` on the C-lane read-out.
Python checks the arguments (the golden model's checks, so the same inputs are rejected with
the same exception types), places codes into beats (``sim.tiling``), and hands the beats to an
*engine*, which runs the simulation:

- ``sim.native_engine.NativeEngine``: the units Verilated and driven by a C++ loop
  (``sim.native``), for whole runs;
- ``sim.cocotb_engine.CocotbEngine``: TrainingUnits under cocotb (Verilator or Icarus), the
  regression path.

Both implement :class:`Engine`. A fault of the simulation -- a cycle budget exhausted, a
protocol error, a dead simulator -- raises :class:`RtlFault` naming the unit and the tile; the
backend never falls back to the golden model. See docs/rtl_training.md.
"""

from __future__ import annotations

import time
from typing import Protocol

import numpy as np

from golden import gemm as gemm_mod
from golden.backend import BackendBase, check_crossing
from golden.formats import (DEFAULT_SEED, ROUNDINGS, SCALE_EXP_BITS, R4Result, check_codes,
                            check_phase, check_scale_exp, check_seed)
from hdl.amax import amax_latency
from hdl.gen import file_stem
from hdl.r4_quantizer import STEPS as R4_STEPS
from hdl.training_units import UNIT_PORTS
from sim import tiling

__all__ = ["Engine", "EngineFault", "RtlBackend", "RtlFault", "design_name"]

#: The registry entry (hdl.gen.DESIGNS) of the composed units.
DESIGN = "training_units_{rows}x{cols}"
#: Cycles a unit may take beyond one per beat before a run counts as hung: pipeline latency
#: plus, per tile, the drain (generous: a correct DUT never gets near it).
SLACK_CYCLES = 1000


class RtlFault(RuntimeError):
    """The simulated hardware failed an operation: which unit, which tile, what happened."""


class EngineFault(RuntimeError):
    """An engine's stream run failed (cycle budget used up, the simulation stopped, a protocol
    error). ``accepted`` maps each input stream to (beats accepted, beats given),
    ``received`` each output stream to (beats, beats asked)."""

    def __init__(self, message: str, accepted: dict, received: dict):
        super().__init__(message)
        self.accepted, self.received = accepted, received


class Engine(Protocol):
    """Runs :class:`hdl.training_units.TrainingUnits` for a backend (native C++ or cocotb)."""

    rows: int
    cols: int
    acc_width: int

    def set(self, port: str, value: int) -> None: ...
    def get(self, port: str) -> int: ...
    def step(self, cycles: int) -> None: ...
    def run(self, inputs: dict, outputs: dict, *, budget: int) -> tuple[dict, int]: ...


def design_name(rows: int, cols: int, acc_width: int) -> str:
    """Module name of a TrainingUnits configuration, as ``make verilog`` names it."""
    return file_stem(DESIGN, rows=rows, cols=cols, acc_width=acc_width)


def _budget(beats_in: int, beats_out: int, extra: int = 0) -> int:
    """Cycles within which a working unit surely moves these beats (idle/stall included)."""
    return 8 * (beats_in + beats_out) + extra + SLACK_CYCLES


class RtlBackend(BackendBase):
    """Every operation of a training step on the simulated TrainingUnits of ``engine``.

    ``cycles`` counts clock cycles per unit (the units of
    :data:`hdl.training_units.UNIT_PORTS`), ``macs`` the multiply-accumulates
    of the GEMMs as asked (padding excluded), ``last_grad_status`` the gradient unit's status
    after the last quantization (``amax`` FP16 magnitude bits, ``next_scale_exp``,
    ``nonfinite``, ``sat_count``).
    """

    name = "rtl"

    def __init__(self, engine: Engine):
        self.engine = engine
        self.rows, self.cols, self.acc_width = engine.rows, engine.cols, engine.acc_width
        self.cycles = {unit: 0 for unit in UNIT_PORTS}
        self.macs = 0
        self.engine_s = 0.0          # wall time spent inside the engine
        self.last_grad_status: dict | None = None
        self._status_settle = status_settle_cycles(self.cols)

    # ---- the engine, with faults named
    def _run(self, unit, inputs, outputs, *, plan=None, extra=0):
        beats_in = sum(a.shape[0] for a in inputs.values())
        budget = _budget(beats_in, sum(outputs.values()), extra)
        t0 = time.perf_counter()
        try:
            results, cycles = self.engine.run(inputs, outputs, budget=budget)
        except EngineFault as exc:
            where = ""
            if plan is not None:
                # The first tile whose result rows did not all arrive.
                tile = min(exc.received.get("o_c", (0, 0))[0] // plan.rows, plan.tiles - 1)
                where = f", tile {tile} of {plan.tiles}"
            raise RtlFault(f"{unit}{where}: {exc} (beats accepted/given {exc.accepted}, "
                           f"received/asked {exc.received})") from None
        finally:
            self.engine_s += time.perf_counter() - t0
        self.cycles[unit] += cycles
        return results

    # ---- the interface
    def gemm(self, a_codes, b_codes, *, a_format, b_format, phase, acc_width):
        a = check_crossing("a_codes", a_codes, np.uint8, 2)
        b = check_crossing("b_codes", b_codes, np.uint8, 2)
        gemm_mod.check_gemm_mode(a_format, b_format, phase)      # golden's checks, its order
        gemm_mod.check_acc_width(acc_width)
        gemm_mod.check_gemm_shapes(a, b)
        check_codes(a, "a_codes")
        check_codes(b, "b_codes")
        if acc_width != self.acc_width:
            raise ValueError(f"acc_width {acc_width}: this RTL model was built with "
                             f"{self.acc_width}-bit accumulators")
        (m, k), n = a.shape, b.shape[1]
        if m == 0 or n == 0:
            return gemm_mod.GemmResult(np.zeros((m, n), dtype=np.int64),
                                       np.zeros((m, n), dtype=bool))
        plan = tiling.plan_gemm(m, k, n, self.rows, self.cols)
        a_words, b_words = tiling.gemm_beats(a, b, plan, a_format=a_format, b_format=b_format,
                                             phase=phase)
        out = self._run("array", {"i_a": a_words, "i_b": b_words},
                        {"o_c": plan.tiles * self.rows}, plan=plan,
                        extra=plan.tiles * (self.rows + 8))
        try:
            acc, ovf = tiling.gemm_results(out["o_c"], plan, self.acc_width)
        except ValueError as exc:
            raise RtlFault(f"array: {exc}") from None
        self.macs += m * k * n
        return gemm_mod.GemmResult(acc, ovf)

    def readout(self, acc, *, exp_offset):
        a = check_crossing("acc", acc, np.int64)
        gemm_mod.readout(a.reshape(-1)[:0], exp_offset=exp_offset)   # golden's argument checks
        lo, hi = -(2 ** (self.acc_width - 1)), 2 ** (self.acc_width - 1) - 1
        if a.size and (int(a.min()) < lo or int(a.max()) > hi):
            raise ValueError(f"acc values must fit the {self.acc_width}-bit accumulators "
                             f"this RTL model was built with")
        if not a.size:
            return gemm_mod.ReadoutResult(np.zeros(a.shape, dtype=np.float16),
                                          np.zeros(a.shape, dtype=bool))
        self.engine.set("exp_offset", int(exp_offset))
        words = tiling.readout_beats(a, self.cols, self.acc_width)
        out = self._run("readout", {"i_acc": words}, {"o_fp16": words.shape[0]})
        return gemm_mod.ReadoutResult(*tiling.readout_results(out["o_fp16"], a.shape,
                                                              self.cols))

    def quantize_grad(self, fp16, *, phase, scale_exp, rounding, seed):
        h = check_crossing("fp16", fp16, np.float16)
        check_phase(phase)                                      # r4_quantize's checks
        check_scale_exp(scale_exp)
        if rounding not in ROUNDINGS:
            raise ValueError(f"rounding must be one of {ROUNDINGS}, not {rounding!r}")
        if rounding == "nearest" and seed is not None:
            raise ValueError("seed is only meaningful with rounding='stochastic'")
        stochastic = rounding == "stochastic"
        s = check_seed(DEFAULT_SEED if seed is None else seed) if stochastic else DEFAULT_SEED
        e = self.engine
        # One configuration cycle: load the seed, restart the counters, then the tensor.
        for port, value in (("phase", phase), ("scale_exp", int(scale_exp)),
                            ("stochastic", int(stochastic)), ("seed", int(s)),
                            ("seed_load", int(stochastic)), ("sat_clear", 1), ("amax_clear", 1)):
            e.set(port, value)
        e.step(1)
        for port in ("seed_load", "sat_clear", "amax_clear"):
            e.set(port, 0)
        self.cycles["gradient_unit"] += 1
        if h.size:
            words = tiling.grad_beats(h, self.cols)
            out = self._run("gradient_unit", {"i_grad": words}, {"o_codes": words.shape[0]})
            try:
                codes, invalid, saturated = tiling.grad_results(out["o_codes"], h.shape,
                                                                self.cols, int(phase))
            except ValueError as exc:
                raise RtlFault(f"gradient_unit: {exc}") from None
        else:
            codes = np.zeros(h.shape, dtype=np.uint8)
            invalid, saturated = np.zeros(h.shape, bool), np.zeros(h.shape, bool)
        # The status outputs lag the last beat (amax tracker, saturation count).
        e.step(self._status_settle)
        self.cycles["gradient_unit"] += self._status_settle
        g_next = _signed(e.get("next_scale_exp"), SCALE_EXP_BITS)
        self.last_grad_status = {"amax": e.get("amax"), "next_scale_exp": g_next,
                                 "nonfinite": bool(e.get("nonfinite")),
                                 "sat_count": e.get("sat_count")}
        return R4Result(codes, invalid, saturated)

    def gemm_fp16(self, a_codes, b_codes, *, a_format, b_format, phase, exp_offset):
        raise NotImplementedError("the RTL array accumulates exactly; FP16 accumulation "
                                  "(accumulate='fp16') is an ablation of the golden model only")


def status_settle_cycles(cols: int) -> int:
    """Cycles to wait after a gradient run's last code has been taken before the status
    outputs hold the whole tensor: ``sat_count`` includes a beat two cycles after its
    delivery (one after the run ends), the amax tracker ``AMAX_LATENCY`` cycles after the
    beat, which left ``LATENCY`` cycles later at the earliest (docs/rtl_training.md)."""
    return max(amax_latency(cols) - len(R4_STEPS) - 1, 1)


def _signed(value: int, width: int) -> int:
    return value - (1 << width) if value >> (width - 1) else value


