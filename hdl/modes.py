"""Operand-format encoding shared by the processing element, the array and their testbenches.

The GEMM mode of docs/numerics.md section 6 (format of operand A, format of operand B, TPR
phase of an R4 operand B) travels in-band with the operands, so one table maps golden's format names onto
the hardware codes; testbenches pack payloads through :func:`a_format_code` and
:func:`b_format_code` and can never disagree with the RTL about what a code means.
"""

from __future__ import annotations

from amaranth.lib import data, enum

from golden.formats import check_phase
from golden.gemm import A_FORMATS, B_FORMATS


class AFormat(enum.Enum, shape=1):
    """Format of operand A. The code is the sign-extension enable inverted, so decode is one AND."""

    INT4 = 0
    UINT4 = 1


class BFormat(enum.Enum, shape=2):
    """Format of operand B.

    Bit 1 selects the R4 (shift) path, bit 0 clears the sign extension of an integer code.
    The fourth code (0b11) is reserved and behaves as R4.
    """

    INT4 = 0b00
    UINT4 = 0b01
    R4 = 0b10


#: The mode one product is computed in: what the processing element needs besides the codes.
Mode = data.StructLayout({
    "a_format": AFormat,
    "b_format": BFormat,
    "phase": 1,
})

_A_CODES = {"int4": AFormat.INT4, "uint4": AFormat.UINT4}
_B_CODES = {"int4": BFormat.INT4, "uint4": BFormat.UINT4, "r4": BFormat.R4}
assert tuple(_A_CODES) == A_FORMATS and tuple(_B_CODES) == B_FORMATS


def a_format_code(name: str) -> int:
    """golden.gemm's ``a_format`` name -> the :class:`AFormat` code driven on a port."""
    try:
        return _A_CODES[name].value
    except (KeyError, TypeError):
        raise ValueError(f"a_format must be one of {A_FORMATS}, not {name!r}") from None


def b_format_code(name: str) -> int:
    """golden.gemm's ``b_format`` name -> the :class:`BFormat` code driven on a port."""
    try:
        return _B_CODES[name].value
    except (KeyError, TypeError):
        raise ValueError(f"b_format must be one of {B_FORMATS}, not {name!r}") from None


def mode_code(a_format: str, b_format: str, phase: int) -> int:
    """The :data:`Mode` of a tile packed as an integer, from golden.gemm's argument values."""
    check_phase(phase)
    return (a_format_code(a_format) << Mode["a_format"].offset
            | b_format_code(b_format) << Mode["b_format"].offset
            | phase << Mode["phase"].offset)
