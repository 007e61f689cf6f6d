"""golden/checks.py: every validator names its argument and returns a plain Python value."""

from __future__ import annotations

import numpy as np
import pytest

from golden import checks


@pytest.mark.parametrize("check, good, bad, error, words", [
    (checks.check_phase, 1, 2, ValueError, "phase must be 0 or 1"),
    (checks.check_phase, np.int8(0), True, ValueError, "phase"),
    (checks.check_scale_exp, -128, 128, ValueError, "scale_exp must be in -128..127"),
    (checks.check_scale_exp, 5, 1.0, TypeError, "scale_exp must be an integer"),
    (checks.check_seed, 0xFFFFFFFF, 0, ValueError, "seed must be in 1..2\\*\\*32-1"),
    (checks.check_acc_width, 48, 49, ValueError, "acc_width must be in 18..48"),
    (checks.check_exp_offset, -256, 256, ValueError, "exp_offset must be in -256..255"),
    (checks.check_seed_pair, (1, 2), (1,), TypeError, "seeds must be None or a pair"),
])
def test_check_names_the_argument(check, good, bad, error, words):
    got = check(good)
    assert type(got) in (int, tuple) and got == (tuple(good) if isinstance(good, tuple) else good)
    with pytest.raises(error, match=words):
        check(bad)
    assert checks.passes(check, good) and not checks.passes(check, bad)


def test_gemm_argument_checks():
    checks.check_gemm_mode("uint4", "r4", 1)
    with pytest.raises(ValueError, match="a_format must be one of"):
        checks.check_gemm_mode("r4", "r4", 0)
    with pytest.raises(ValueError, match="b_format must be one of"):
        checks.check_gemm_mode("int4", "int8", 0)
    with pytest.raises(ValueError, match="inner dimensions differ"):
        checks.check_gemm_shapes(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(TypeError, match="a_codes must be uint8"):
        checks.check_crossing("a_codes", np.zeros(2, np.int64), np.uint8)


def test_number_checks():
    assert checks.check_int(np.int64(3), "n") == 3
    with pytest.raises(TypeError, match="n must be a positive integer"):
        checks.check_int(0, "n")
    assert checks.check_real(2, "lr", positive=True) == 2.0
    with pytest.raises(ValueError, match="lr must be a positive finite number"):
        checks.check_real(10 ** 400, "lr", positive=True)
    with pytest.raises(FloatingPointError, match="x holds NaN"):
        checks.check_finite([1.0, np.nan], "x")
    with pytest.raises(ValueError, match="codes must hold 4-bit codes"):
        checks.check_codes([16])
