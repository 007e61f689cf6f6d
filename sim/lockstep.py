"""Run a training step on two backends at once and stop at the first result that differs.

:class:`LockstepBackend` hands every primitive operation (``gemm``, ``readout``,
``quantize_grad``) to the RTL backend and to the golden backend, compares every returned array
for equality -- FP16 by bit pattern, so -0 and +0 differ -- and returns the RTL's result, so
the run *is* the hardware's run. The fused operations are :class:`golden.backend.BackendBase`'s,
i.e. their primitives, each compared on its own. After each gradient quantization the gradient
unit's amax tracker is compared too: its amax, its GradScale exponent for the next iteration
and its saturation count against the golden model's values of the same tensor (and, under
GradScale "current", against the exponent the host used).

A difference raises :class:`Divergence` naming the step, the layer and pass, the unit, the
tile (for a GEMM) and the first differing element.
"""

from __future__ import annotations

import time

import numpy as np

from golden.backend import BackendBase
from golden.formats import grad_scale_exp
from sim.tiling import plan_gemm

__all__ = ["Divergence", "LockstepBackend"]


class Divergence(AssertionError):
    """The RTL and the golden model disagree: the message says where."""


def _bits(x: np.ndarray) -> np.ndarray:
    return x.view(np.uint16) if x.dtype == np.float16 else x


class LockstepBackend(BackendBase):
    """The RTL backend's results, each checked against the golden backend's."""

    name = "lockstep"

    def __init__(self, rtl, golden, *, grad_scale: str = "current"):
        self.rtl, self.golden, self.grad_scale = rtl, golden, grad_scale
        self.site = "-"          # "<layer> forward" / "<layer> backward", set by bind()
        self.ctx = None
        self.compared = 0        # arrays compared
        self.golden_s = 0.0      # wall time spent in the golden backend

    def bind(self, net, ctx) -> None:
        """Follow a model's steps (``ctx.step``) and name the layer of every operation."""
        self.ctx = ctx
        for layer in net.layers:
            if layer.params:
                for what in ("forward", "backward"):
                    setattr(layer, what, self._named(getattr(layer, what), layer.name, what))

    def _named(self, fn, name, what):
        def call(*args, **kwargs):
            self.site = f"{name} {what}"
            return fn(*args, **kwargs)
        return call

    def _where(self, unit: str) -> str:
        step = self.ctx.step if self.ctx is not None else "-"
        return f"step {step}, {self.site}, {unit}"

    def _compare(self, unit, op, fields, rtl, gold, tile_of=None):
        for name, x, y in zip(fields, rtl, gold, strict=True):
            self.compared += 1
            if x.shape != y.shape or x.dtype != y.dtype:
                raise Divergence(f"{self._where(unit)}: {op} {name} is {x.dtype}{x.shape} on "
                                 f"the RTL, {y.dtype}{y.shape} in golden")
            diff = _bits(x) != _bits(y)
            if diff.any():
                idx = tuple(int(i) for i in np.argwhere(diff)[0])
                tile = ""
                if tile_of is not None:
                    t, ti, tj = tile_of(*idx)
                    tile = f", tile {t} (row block {ti}, column block {tj})"
                raise Divergence(f"{self._where(unit)}{tile}: {op} {name} differs in "
                                 f"{int(diff.sum())} of {diff.size} elements; first at {idx}: "
                                 f"RTL {x[idx]!r}, golden {y[idx]!r}")

    # ---- the primitives
    def gemm(self, a_codes, b_codes, *, a_format, b_format, phase, acc_width):
        kw = dict(a_format=a_format, b_format=b_format, phase=phase, acc_width=acc_width)
        r = self.rtl.gemm(a_codes, b_codes, **kw)
        t0 = time.perf_counter()
        g = self.golden.gemm(a_codes, b_codes, **kw)
        self.golden_s += time.perf_counter() - t0
        (m, k), n = np.shape(a_codes), np.shape(b_codes)[1]
        plan = plan_gemm(m, k, n, self.rtl.rows, self.rtl.cols)
        self._compare("array", f"gemm {a_format} x {b_format} phase {phase}",
                      ("acc", "overflow"), r, g, plan.tile_of)
        return r

    def readout(self, acc, *, exp_offset):
        r = self.rtl.readout(acc, exp_offset=exp_offset)
        t0 = time.perf_counter()
        g = self.golden.readout(acc, exp_offset=exp_offset)
        self.golden_s += time.perf_counter() - t0
        self._compare("readout", f"readout exp_offset {exp_offset}", ("values", "overflow"),
                      r, g)
        return r

    def quantize_grad(self, fp16, *, phase, scale_exp, rounding, seed):
        kw = dict(phase=phase, scale_exp=scale_exp, rounding=rounding, seed=seed)
        r = self.rtl.quantize_grad(fp16, **kw)
        t0 = time.perf_counter()
        g = self.golden.quantize_grad(fp16, **kw)
        self.golden_s += time.perf_counter() - t0
        op = f"quantize_grad phase {phase} g {scale_exp} {rounding}"
        self._compare("gradient unit", op, ("codes", "invalid", "saturated"), r, g)
        self._check_amax(fp16, g, scale_exp, op)
        return r

    def _check_amax(self, fp16, gold, scale_exp, op):
        """The amax tracker's status against the golden values of the same tensor."""
        status = self.rtl.last_grad_status
        mag = fp16.view(np.uint16) & np.uint16(0x7FFF)
        finite = mag < 0x7C00
        want = {"amax": int(mag[finite].max()) if finite.any() else 0,
                "nonfinite": bool((~finite).any()),
                "sat_count": int(np.count_nonzero(gold.saturated))}
        if not want["nonfinite"]:
            want["next_scale_exp"] = grad_scale_exp(fp16) if fp16.size else 0
        for key, value in want.items():
            self.compared += 1
            if status[key] != value:
                raise Divergence(f"{self._where('gradient unit amax tracker')}: {op}: {key} "
                                 f"is {status[key]} on the RTL, {value} in golden")
        if self.grad_scale == "current" and not want["nonfinite"] and fp16.size:
            if status["next_scale_exp"] != scale_exp:
                raise Divergence(f"{self._where('gradient unit amax tracker')}: {op}: the "
                                 f"tracker's GradScale exponent {status['next_scale_exp']} is "
                                 f"not the host's {scale_exp}")

    def gemm_fp16(self, a_codes, b_codes, *, a_format, b_format, phase, exp_offset):
        return self.rtl.gemm_fp16(a_codes, b_codes, a_format=a_format, b_format=b_format,
                                  phase=phase, exp_offset=exp_offset)
