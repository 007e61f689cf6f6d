"""The one table of 4-bit element formats: an enum plus the facts of each (docs/numerics.md §1).

Every part of fourbit that depends on a format reads it here: golden's GEMM and backends take
their operand values from :meth:`FormatSpec.grid` and their operand roles from
:data:`A_FORMATS` / :data:`B_FORMATS`, and ``hdl.modes`` builds its ``AFormat`` / ``BFormat``
port enums from :attr:`FormatSpec.a_code` / :attr:`FormatSpec.b_code`. A format is passed
around as its name (``"int4"``); :class:`ElemFormat` members *are* those names (a ``StrEnum``),
so either is accepted wherever a format is. Adding a format is one entry here plus its codec
(``golden.formats``) and the datapath that computes its products (``hdl/pe.py``); the README's
layout section lists the steps. E2M1, the element of the block-scaled formats MXFP4 and NVFP4
(``golden.mx``), is a row with no hardware mode code yet; its 8-bit block scales (E8M0, E4M3)
are not 4-bit element formats and live with its codec in ``golden.fp4``.

This module depends on nothing else in the repository, so that every checker can use it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np


class ElemFormat(enum.StrEnum):
    """A 4-bit element format. ``ElemFormat.R4 == "r4"``: a member is its name."""

    INT4 = "int4"
    UINT4 = "uint4"
    R4 = "r4"
    E2M1 = "e2m1"

    @property
    def spec(self) -> FormatSpec:
        return FORMATS[self]


@dataclass(frozen=True)
class FormatSpec:
    """The facts of one format.

    ``grid(phase)`` is the value each of the 16 codes contributes to a product, as int64 in
    units of 2^``unit_exp`` (1 for the integer formats, 2^-7 at scale exponent 0 for R4, 2^-1
    for E2M1 before its block scale); it depends on the TPR phase only where ``phased``.
    ``min_value`` / ``max_value`` bound it (phase 0).
    ``roundings`` are the ways a real value is rounded onto the grid (the quantizer named by
    ``quantizer``). ``a_code`` / ``b_code`` are the codes of the hardware GEMM mode
    (``hdl.modes.AFormat`` / ``BFormat``) for a format that may be operand A / B of a GEMM,
    None where it may not.
    """

    fmt: ElemFormat
    bits: int
    signed: bool
    log_domain: bool
    phased: bool
    unit_exp: int
    min_value: int
    max_value: int
    roundings: tuple[str, ...]
    quantizer: str
    a_code: int | None
    b_code: int | None
    _grid: Callable[[np.ndarray, int], np.ndarray]

    @property
    def name(self) -> str:
        return str(self.fmt)

    def grid(self, phase: int = 0) -> np.ndarray:
        """The int64 product value of codes 0..15 (read-only), in this phase."""
        return _grid(self.fmt, phase if self.phased else 0)


def _int4_grid(c, phase):
    return (c ^ 8) - 8                        # two's complement


def _uint4_grid(c, phase):
    return c


def _e2m1_grid(c, phase):
    mag = np.array([0, 1, 2, 3, 4, 6, 8, 12])[c & 7]   # 0, 0.5, 1, 1.5, 2, 3, 4, 6 in 2^-1
    return np.where(c >> 3 == 1, -mag, mag)             # sign bit 3; code 8 is -0


def _r4_grid(c, phase):
    e = c & 7                                 # sign bit 3, radix-4 exponent field bits 2..0
    mag = np.where(e > 0, np.int64(1) << np.maximum(2 * e - 1 - phase, 0), 0)
    return np.where(c >> 3 == 1, -mag, mag)   # 2^(2e - 8 - p) in units of 2^-7


#: The formats, in the order their hardware codes count.
FORMATS: dict[ElemFormat, FormatSpec] = {
    ElemFormat.INT4: FormatSpec(ElemFormat.INT4, bits=4, signed=True, log_domain=False,
                                phased=False, unit_exp=0, min_value=-8, max_value=7,
                                roundings=("nearest",), quantizer="golden.quant.sawb_quantize",
                                a_code=0, b_code=0b00, _grid=_int4_grid),
    ElemFormat.UINT4: FormatSpec(ElemFormat.UINT4, bits=4, signed=False, log_domain=False,
                                 phased=False, unit_exp=0, min_value=0, max_value=15,
                                 roundings=("nearest",),
                                 quantizer="golden.quant.pact_quantize, pixel_quantize",
                                 a_code=1, b_code=0b01, _grid=_uint4_grid),
    ElemFormat.R4: FormatSpec(ElemFormat.R4, bits=4, signed=True, log_domain=True,
                              phased=True, unit_exp=-7, min_value=-(2 ** 13),
                              max_value=2 ** 13,
                              roundings=("nearest", "stochastic"),
                              quantizer="golden.formats.r4_quantize",
                              a_code=None, b_code=0b10, _grid=_r4_grid),
    ElemFormat.E2M1: FormatSpec(ElemFormat.E2M1, bits=4, signed=True, log_domain=False,
                                phased=False, unit_exp=-1, min_value=-12, max_value=12,
                                roundings=("nearest", "stochastic"),
                                quantizer="golden.fp4.e2m1_quantize, golden.mx",
                                a_code=None, b_code=None, _grid=_e2m1_grid),
}

#: Names of the formats operand A / operand B of a GEMM may have.
A_FORMATS = tuple(str(f) for f, s in FORMATS.items() if s.a_code is not None)
B_FORMATS = tuple(str(f) for f, s in FORMATS.items() if s.b_code is not None)
#: Every (a_format, b_format, phase) GEMM mode: phase 1 only where B's grid depends on it.
GEMM_MODES = tuple((a, b, p) for a in A_FORMATS for b in B_FORMATS
                   for p in ((0, 1) if FORMATS[b].phased else (0,)))


@lru_cache(maxsize=None)
def _grid(fmt: ElemFormat, phase: int) -> np.ndarray:
    g = FORMATS[fmt]._grid(np.arange(16, dtype=np.int64), phase).astype(np.int64)
    g.flags.writeable = False
    return g


def format_of(name, role: str | None = None) -> FormatSpec:
    """The spec of the format called ``name``; ``role`` "a" or "b" also requires that a GEMM
    operand A / B may have it. A ValueError naming the argument (``a_format``...) otherwise."""
    allowed = {"a": A_FORMATS, "b": B_FORMATS, None: tuple(str(f) for f in FORMATS)}[role]
    if isinstance(name, str) and name in allowed:
        return FORMATS[ElemFormat(name)]
    what = f"{role}_format" if role else "format"
    raise ValueError(f"{what} must be one of {allowed}, not {name!r}")
