"""The reference backend: every operation is the bit-exact reference function of golden/."""

from __future__ import annotations

import numpy as np

from golden import gemm as gemm_mod
from golden.backend.base import BackendBase
from golden.checks import check_crossing
from golden.formats import r4_quantize


class NumpyBackend(BackendBase):
    """The golden model itself: every operation is the bit-exact reference in golden/."""

    name = "numpy"

    def gemm(self, a_codes, b_codes, *, a_format, b_format, phase, acc_width):
        check_crossing("a_codes", a_codes, np.uint8, 2)
        check_crossing("b_codes", b_codes, np.uint8, 2)
        return gemm_mod.gemm(a_codes, b_codes, a_format=a_format, b_format=b_format,
                             phase=phase, acc_width=acc_width, flags=True)

    def readout(self, acc, *, exp_offset):
        check_crossing("acc", acc, np.int64)
        return gemm_mod.readout(acc, exp_offset=exp_offset, flags=True)

    def quantize_grad(self, fp16, *, phase, scale_exp, rounding, seed):
        check_crossing("fp16", fp16, np.float16)
        return r4_quantize(fp16, phase=phase, scale_exp=scale_exp, rounding=rounding,
                           seed=seed, flags=True)

    def gemm_fp16(self, a_codes, b_codes, *, a_format, b_format, phase, exp_offset):
        check_crossing("a_codes", a_codes, np.uint8, 2)
        check_crossing("b_codes", b_codes, np.uint8, 2)
        return gemm_mod.gemm_fp16(a_codes, b_codes, a_format=a_format, b_format=b_format,
                                  phase=phase, exp_offset=exp_offset, flags=True)
