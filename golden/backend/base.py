"""The backend protocol and :class:`BackendBase`, the fused operations as their primitives.

The operations and the dtypes that cross the boundary are listed in :mod:`golden.backend`.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

import numpy as np

from golden import gemm as gemm_mod
from golden.checks import check_crossing, check_seed_pair
from golden.formats import R4Result


class Backend(Protocol):
    """What an execution backend (NumPy golden model, simulated RTL) implements."""

    name: str

    def gemm(self, a_codes: np.ndarray, b_codes: np.ndarray, *, a_format: str, b_format: str,
             phase: int, acc_width: int) -> gemm_mod.GemmResult: ...

    def readout(self, acc: np.ndarray, *, exp_offset: int) -> gemm_mod.ReadoutResult: ...

    def quantize_grad(self, fp16: np.ndarray, *, phase: int, scale_exp: int, rounding: str,
                      seed: int | None) -> R4Result: ...

    def gemm_fp16(self, a_codes: np.ndarray, b_codes: np.ndarray, *, a_format: str,
                  b_format: str, phase: int, exp_offset: int) -> gemm_mod.Fp16GemmResult: ...

    def quantize_grad_tpr(self, fp16: np.ndarray, *, scale_exp: int, rounding: str,
                          seeds: tuple[int, int] | None) -> tuple[R4Result, R4Result]: ...

    def gemm_readout(self, a_codes: np.ndarray, b_codes: np.ndarray, *, a_format: str,
                     b_format: str, phase: int, acc_width: int,
                     exp_offset: int) -> GemmReadout: ...


class GemmReadout(NamedTuple):
    """A GEMM's sticky saturation flags and the FP16 read-out of its accumulators."""

    overflow: np.ndarray            # bool (M, N), the GEMM's
    readout: gemm_mod.ReadoutResult


class BackendBase:
    """The fused operations as what they stand for: the primitives, called one after the other.

    A backend inherits these and may override them with something faster that returns the same
    arrays (``verif/golden/test_backend.py`` compares every override with these definitions).
    """

    def quantize_grad_tpr(self, fp16, *, scale_exp, rounding, seeds):
        """Two-Phase Rounding of one gradient tensor: its phase-0 and phase-1 R4 results."""
        s0, s1 = check_seed_pair(seeds)
        return (self.quantize_grad(fp16, phase=0, scale_exp=scale_exp, rounding=rounding,
                                   seed=s0),
                self.quantize_grad(fp16, phase=1, scale_exp=scale_exp, rounding=rounding,
                                   seed=s1))

    def gemm_readout(self, a_codes, b_codes, *, a_format, b_format, phase, acc_width,
                     exp_offset):
        """A GEMM and the read-out of its (possibly saturated) accumulators."""
        res = self.gemm(a_codes, b_codes, a_format=a_format, b_format=b_format, phase=phase,
                        acc_width=acc_width)
        check_crossing("acc", res.acc, np.int64)
        return GemmReadout(res.overflow, self.readout(res.acc, exp_offset=exp_offset))
