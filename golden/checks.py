"""The argument validators of the golden model and the register ranges they enforce.

Every ``check_*`` returns the value it checked (a plain Python ``int`` / ``float`` / array, so
that what follows never depends on a NumPy scalar type) or raises a ``TypeError`` (wrong kind
of value) or ``ValueError`` (right kind, out of range) whose message names the argument. A
``bool`` is never an integer here. :func:`passes` turns any of them into a predicate for the
fast paths that hand every other input to the reference (and so to its error message).
The ranges are those of the hardware registers (docs/numerics.md sections 3-6).
"""

from __future__ import annotations

import math

import numpy as np

from golden.format_table import format_of

#: Phases of Two-Phase Rounding.
PHASES = (0, 1)
#: The GradScale exponent register is a signed 8-bit field in hardware.
SCALE_EXP_BITS = 8
SCALE_EXP_MIN = -(2 ** (SCALE_EXP_BITS - 1))
SCALE_EXP_MAX = 2 ** (SCALE_EXP_BITS - 1) - 1
#: Accumulator widths the golden model (and the RTL parameter check) accept. 18 bits is the
#: least that holds one UINT4 x R4 product (< 2^17); 48 keeps the read-out exact in float64.
ACC_WIDTH_MIN = 18
ACC_WIDTH_MAX = 48
#: The read-out's power-of-two exponent offset is a signed 9-bit register: it must cover
#: -7 - g for every 8-bit GradScale exponent g (R4 products are in units of 2^-7).
READOUT_OFFSET_BITS = 9
READOUT_OFFSET_MIN = -(2 ** (READOUT_OFFSET_BITS - 1))
READOUT_OFFSET_MAX = 2 ** (READOUT_OFFSET_BITS - 1) - 1


def passes(check, *args) -> bool:
    """Whether ``check(*args)`` accepts its arguments (returns instead of raising)."""
    try:
        check(*args)
    except (TypeError, ValueError):
        return False
    return True


# --------------------------------------------------------------------------- numbers


def check_int_in_range(name: str, value, lo: int, hi: int, note: str = "") -> int:
    """``value`` as a Python int if it is an integer (NumPy's included, bools not) in
    ``lo..hi``: a TypeError or ValueError naming the parameter otherwise (``note`` follows the
    range in the message, e.g. the register it fills)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be in {lo}..{hi}{note}, not {value}")
    return int(value)


def check_int(value, what: str, least: int = 1, kind: str = "a positive integer") -> int:
    """``value`` as an int if it is an integer (not a bool) >= ``least``; a TypeError saying
    it must be ``kind`` otherwise (counts and sizes of the training library)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise TypeError(f"{what} must be {kind}, not {value!r}")
    return int(value)


def check_real(value, what: str, *, positive: bool) -> float:
    """``value`` as a float if it is a finite real number, > 0 or >= 0 as asked."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{what} must be a real number, not {value!r}")
    try:
        finite = math.isfinite(value)
    except OverflowError:                    # an integer beyond the float range
        finite = False
    if not finite or (value <= 0 if positive else value < 0):
        raise ValueError(f"{what} must be a {'positive' if positive else 'non-negative'} finite "
                         f"number, not {value!r}")
    return float(value)


def check_finite(x, what: str) -> np.ndarray:
    """Return ``x`` as an array: a TypeError naming ``what`` unless it is real-valued numbers
    (bool, integer or floating point), a FloatingPointError if it holds NaN or Inf."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be an array of real numbers, not dtype {arr.dtype}")
    if not np.isfinite(arr).all():
        raise FloatingPointError(f"{what} holds NaN or Inf")
    return arr


# --------------------------------------------------------------------------- registers


def check_int_array(values, lo: int, hi: int, *, kind: str, within: str) -> np.ndarray:
    """``values`` as an integer array with every element in ``lo..hi``: a TypeError
    "``kind``, not dtype ..." for a non-integer array, a ValueError "``within``, found
    min..max" for one out of range."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{kind}, not dtype {arr.dtype}")
    if arr.size and (arr.min() < lo or arr.max() > hi):
        raise ValueError(f"{within}, found {arr.min()}..{arr.max()}")
    return arr


def check_codes(codes, name: str = "codes") -> np.ndarray:
    """Return ``codes`` as a uint8 array, rejecting anything that is not a 4-bit pattern."""
    return check_int_array(codes, 0, 15, kind=f"{name} must be an integer array of 4-bit codes",
                           within=f"{name} must hold 4-bit codes 0..15").astype(np.uint8)


def check_phase(phase) -> int:
    """A TPR phase: the integer 0 or 1 (not a bool, a float or an array)."""
    if (isinstance(phase, bool) or not isinstance(phase, (int, np.integer))
            or phase not in PHASES):
        raise ValueError(f"phase must be 0 or 1, not {phase!r}")
    return int(phase)


def check_scale_exp(scale_exp) -> int:
    """A GradScale exponent: an integer in the signed hardware register's range."""
    return check_int_in_range("scale_exp", scale_exp, SCALE_EXP_MIN, SCALE_EXP_MAX,
                              f" (the signed {SCALE_EXP_BITS}-bit hardware register)")


def check_seed(seed) -> int:
    """An xorshift32 seed: an integer (not a bool) in 1..2**32-1 (0 is a fixed point)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, not {seed!r}")
    if not 1 <= seed <= 0xFFFFFFFF:
        raise ValueError(f"seed must be in 1..2**32-1 (xorshift32 never leaves state 0), "
                         f"not {seed}")
    return int(seed)


def check_seed_pair(seeds) -> tuple:
    """``seeds`` of a TPR call: None, or a pair (phase-0 seed, phase-1 seed); each seed is
    checked where it is used."""
    if seeds is None:
        return None, None
    if not isinstance(seeds, (tuple, list)) or len(seeds) != 2:
        raise TypeError(f"seeds must be None or a pair (phase-0 seed, phase-1 seed), "
                        f"not {seeds!r}")
    return tuple(seeds)


def check_acc_width(acc_width) -> int:
    """Validate an accumulator width (shared by golden and the RTL parameter checks)."""
    return check_int_in_range("acc_width", acc_width, ACC_WIDTH_MIN, ACC_WIDTH_MAX)


def check_exp_offset(exp_offset) -> int:
    """The read-out's power-of-two offset: an integer in the signed 9-bit register's range."""
    return check_int_in_range("exp_offset", exp_offset, READOUT_OFFSET_MIN, READOUT_OFFSET_MAX)


# --------------------------------------------------------------------------- GEMM operands


def check_gemm_mode(a_format, b_format, phase) -> None:
    """A GEMM's operand formats (by the format table's roles) and TPR phase."""
    format_of(a_format, "a"), format_of(b_format, "b")
    check_phase(phase)


def check_gemm_shapes(a_codes, b_codes) -> tuple[np.ndarray, np.ndarray]:
    """A GEMM's operands as arrays: both 2-D, with agreeing inner dimensions."""
    a = np.asarray(a_codes)
    b = np.asarray(b_codes)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"a_codes and b_codes must be 2-D, got shapes {a.shape} and {b.shape}")
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"inner dimensions differ: A is {a.shape}, B is {b.shape}")
    return a, b


def check_crossing(name: str, arr, dtype, ndim: int | None = None) -> np.ndarray:
    """Reject a tensor crossing the backend boundary whose dtype (or rank) is not the
    documented one."""
    a = np.asarray(arr)
    if a.dtype != np.dtype(dtype):
        raise TypeError(f"{name} must be {np.dtype(dtype)} at the backend boundary, not {a.dtype}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D at the backend boundary, got shape {a.shape}")
    return a


# --------------------------------------------------------------------------- block-scaled FP4


def check_rounding(rounding, seed, roundings: tuple[str, ...]) -> int | None:
    """A rounding name out of ``roundings`` and its seed: the checked seed, or None when the
    caller is to use its default (stochastic) or needs none (nearest). A ValueError for an
    unknown name or for a seed given with ``"nearest"``."""
    if not isinstance(rounding, str) or rounding not in roundings:
        raise ValueError(f"rounding must be one of {roundings}, not {rounding!r}")
    if seed is None:
        return None
    if rounding == "nearest":
        raise ValueError(f"seed is only meaningful with rounding='stochastic', not {seed!r} "
                         f"with rounding='nearest'")
    return check_seed(seed)


def check_float32(x, name: str = "x") -> np.ndarray:
    """``x`` as the float64 array of its FP32 values: float16 and float32 are taken exactly,
    float64 is rounded once to float32 (round-to-nearest-even, NumPy's cast; beyond FP32's range
    it becomes +-Inf). Any other dtype (integer, bool, complex, long double) is a TypeError."""
    arr = np.asarray(x)
    if arr.dtype not in (np.float16, np.float32, np.float64):
        raise TypeError(f"{name} must be a float16, float32 or float64 array, not dtype "
                        f"{arr.dtype}")
    with np.errstate(over="ignore", invalid="ignore"):    # +-Inf, and NaN payloads, are data
        return arr.astype(np.float32).astype(np.float64)


def check_block_axis(shape: tuple, axis, block_size) -> tuple[int, int]:
    """(axis, block_size) of a tensor of ``shape`` cut into blocks along ``axis``: the axis as a
    non-negative int, the block size a positive int that divides that axis's length (no
    padding). A TypeError or ValueError naming the argument otherwise."""
    if not shape:
        raise ValueError("a block-scaled tensor must have at least one dimension, not a scalar")
    axis = check_int_in_range("axis", axis, -len(shape), len(shape) - 1,
                              f" for a {len(shape)}-D tensor")
    block_size = check_int_in_range("block_size", block_size, 1, 2 ** 16)
    axis %= len(shape)
    if shape[axis] % block_size:
        raise ValueError(f"axis {axis} has length {shape[axis]}, not a multiple of block_size "
                         f"{block_size} (blocks are not padded)")
    return axis, block_size
