"""What one training step shares between layers: the 4-bit configuration, the step context
(backend, step number, counters) and the seed of each stochastic gradient quantization."""

from __future__ import annotations

from dataclasses import dataclass, field

from golden.backend import Backend
from golden.checks import (SCALE_EXP_MAX, SCALE_EXP_MIN, check_acc_width, check_int,
                           check_int_in_range)
from golden.formats import ROUNDINGS

#: What a layer calls on ``StepContext.backend``.
BACKEND_OPS = ("gemm_readout", "quantize_grad")
GRAD_SCALE_MODES = ("current", "delayed", "off")
ACCUMULATE_MODES = ("exact", "fp16")
#: How the phase-1 (dX) quantization of TPR is scaled: "shared" uses the phase-0 exponent g,
#: "shift-up" uses g - 2 (docs/numerics.md section 5, "Phase-1 scale").
PHASE1_SCALES = ("shared", "shift-up")


@dataclass(frozen=True)
class QuantConfig:
    """The knobs of the 4-bit backward pass; the defaults are the paper's scheme.

    rounding : "stochastic" or "nearest" R4 rounding of gradients.
    tpr : Two-Phase Rounding; False quantizes dY once, in phase 0, for both GEMMs.
    grad_scale : "current" (amax of this dY), "delayed" (amax of the layer's previous dY) or
        "off" (``fixed_scale_exp`` for every layer).
    accumulate : "exact" integer accumulation or the "fp16" accumulation ablation.
    phase1_scale : "shared": phase 1 is quantized with the phase-0 exponent g, so its grid
        tops out one octave below amax and the top octave saturates; "shift-up": phase 1 with
        g - 2, its grid shifted up by 2 (every level twice the phase-0 level of the same
        code), so nothing finite saturates. Only used with TPR.
    """

    rounding: str = "stochastic"
    tpr: bool = True
    grad_scale: str = "current"
    fixed_scale_exp: int = 0
    accumulate: str = "exact"
    acc_width: int = 32
    phase1_scale: str = "shared"

    def __post_init__(self):
        if self.rounding not in ROUNDINGS:
            raise ValueError(f"rounding must be one of {ROUNDINGS}, not {self.rounding!r}")
        if self.grad_scale not in GRAD_SCALE_MODES:
            raise ValueError(f"grad_scale must be one of {GRAD_SCALE_MODES}, "
                             f"not {self.grad_scale!r}")
        if self.accumulate not in ACCUMULATE_MODES:
            raise ValueError(f"accumulate must be one of {ACCUMULATE_MODES}, "
                             f"not {self.accumulate!r}")
        if self.phase1_scale not in PHASE1_SCALES:
            raise ValueError(f"phase1_scale must be one of {PHASE1_SCALES}, "
                             f"not {self.phase1_scale!r}")
        if not isinstance(self.tpr, bool):
            raise TypeError(f"tpr must be a bool, not {self.tpr!r}")
        # Plain ints, so that asdict(config) stays JSON-serializable whatever integer type came in.
        object.__setattr__(self, "fixed_scale_exp", check_int_in_range(
            "fixed_scale_exp", self.fixed_scale_exp, SCALE_EXP_MIN, SCALE_EXP_MAX,
            " (the GradScale register)"))
        object.__setattr__(self, "acc_width", check_acc_width(self.acc_width))
        if self.fixed_scale_exp != 0 and self.grad_scale != "off":
            raise ValueError(f"fixed_scale_exp={self.fixed_scale_exp} is only used with "
                             f"grad_scale='off', not grad_scale={self.grad_scale!r}")


@dataclass
class StepContext:
    """What one training step shares between layers: backend, config, step number, counters."""

    backend: Backend
    config: QuantConfig = field(default_factory=QuantConfig)
    run_seed: int = 1
    step: int = 0
    stats: dict = field(default_factory=lambda: {"grad_saturated": 0, "grad_saturated_phase1": 0,
                                                  "readout_overflow": 0,
                                                  "fp16_acc_overflow": 0})

    def __post_init__(self):
        if not all(callable(getattr(self.backend, op, None)) for op in BACKEND_OPS):
            raise TypeError(f"backend must implement {', '.join(BACKEND_OPS)} "
                            f"(a golden.backend.Backend), not {self.backend!r}")
        if not isinstance(self.config, QuantConfig):
            raise TypeError(f"config must be a QuantConfig, not {self.config!r}")
        check_int(self.run_seed, "run_seed", 0, "a non-negative integer")
        check_int(self.step, "step", 0, "a non-negative integer")


def grad_seed(run_seed: int, step: int, layer_id: int, phase: int) -> int:
    """The xorshift32 seed of one stochastic gradient quantization (1..2^32-1).

    A fixed integer hash of (run seed, step, layer, phase), so that a backend replaying the
    run needs nothing but these four integers to reproduce every random draw.
    """
    x = (run_seed * 0x9E3779B1 + step * 0x85EBCA77 + layer_id * 0xC2B2AE3D
         + phase * 0x27D4EB2F) & 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    x ^= x >> 16
    return x or 1
