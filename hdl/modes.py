"""Operand-format encoding shared by the processing element, the array and their testbenches.

The GEMM mode of docs/numerics.md section 6 (format of operand A, format of operand B, TPR
phase of an R4 operand B) travels in-band with the operands. Its format codes are facts of the
one format table, :mod:`golden.format_table` (``a_code`` / ``b_code``): :class:`AFormat` and
:class:`BFormat` are built from it, and testbenches pack payloads through
:func:`a_format_code` and :func:`b_format_code`, so they can never disagree with the RTL about
what a code means.
"""

from __future__ import annotations

import types

from amaranth.lib import data, enum

from golden.checks import check_phase
from golden.format_table import FORMATS, GEMM_MODES, format_of


def _format_enum(name: str, doc: str, shape: int, code_of) -> type:
    """An Amaranth enum with one member per table format that has a code (``code_of(spec)``)."""
    def body(ns):
        ns["__doc__"], ns["__module__"], ns["__qualname__"] = doc, __name__, name
        for fmt, spec in FORMATS.items():
            if code_of(spec) is not None:
                ns[fmt.name] = code_of(spec)
    return types.new_class(name, (enum.Enum,), {"shape": shape}, body)


AFormat = _format_enum(
    "AFormat", "Format of operand A. The code is the sign-extension enable inverted, so decode "
    "is one AND.", 1, lambda spec: spec.a_code)

BFormat = _format_enum(
    "BFormat", "Format of operand B. Bit 1 selects the R4 (shift) path, bit 0 clears the sign "
    "extension of an integer code. The fourth code (0b11) is reserved and behaves as R4.",
    2, lambda spec: spec.b_code)


#: The mode one product is computed in: what the processing element needs besides the codes.
Mode = data.StructLayout({
    "a_format": AFormat,
    "b_format": BFormat,
    "phase": 1,
})


#: Format of operand B of the INT4-only processing element (``ProcessingElement(r4=False)``):
#: the integer formats of :class:`BFormat` with the same codes less the R4 bit, so a mode that
#: port cannot carry an R4 operand at all.
IntBFormat = _format_enum(
    "IntBFormat", "Format of an integer operand B (no R4). Bit 0 clears the sign extension, as "
    "in BFormat.", 1,
    lambda spec: None if spec.b_code is None or spec.log_domain else spec.b_code)

#: The mode of the INT4-only processing element: no R4 operand, so no TPR phase either.
IntMode = data.StructLayout({
    "a_format": AFormat,
    "b_format": IntBFormat,
})

#: The GEMM modes (golden.format_table.GEMM_MODES) whose operand B is an integer format: every
#: mode the INT4-only processing element computes, the forward GEMM's.
INT_GEMM_MODES = tuple(mode for mode in GEMM_MODES if not format_of(mode[1]).log_domain)


def a_format_code(name: str) -> int:
    """golden.gemm's ``a_format`` name -> the :class:`AFormat` code driven on a port."""
    return format_of(name, "a").a_code


def b_format_code(name: str) -> int:
    """golden.gemm's ``b_format`` name -> the :class:`BFormat` code driven on a port."""
    return format_of(name, "b").b_code


def mode_code(a_format: str, b_format: str, phase: int) -> int:
    """The :data:`Mode` of a tile packed as an integer, from golden.gemm's argument values."""
    check_phase(phase)
    return (a_format_code(a_format) << Mode["a_format"].offset
            | b_format_code(b_format) << Mode["b_format"].offset
            | phase << Mode["phase"].offset)


def int_mode_code(a_format: str, b_format: str, phase: int = 0) -> int:
    """The :data:`IntMode` of a tile packed as an integer (``phase`` is checked and, as for
    any integer B, has no effect); a ValueError for a B format the INT4-only PE does not
    compute (R4)."""
    check_phase(phase)
    spec = format_of(b_format, "b")
    if spec.log_domain:
        raise ValueError(f"b_format {b_format!r}: the INT4-only processing element computes "
                         f"integer operands only, modes {INT_GEMM_MODES}")
    return (a_format_code(a_format) << IntMode["a_format"].offset
            | spec.b_code << IntMode["b_format"].offset)
