"""FP8 E4M3 in the golden model: the code table and the multiply-accumulate into FP32.

E4M3 is the OCP 8-bit floating-point format ``float8_e4m3fn``: sign, 4 exponent bits (bias 7),
3 fraction bits; subnormals at exponent field 0; no infinities, the only NaNs are S.1111.111
(0x7F, 0xFF), so S.1111.110 = +-448 is the largest finite value.

``mac_bits(acc, a, b)`` is what the FP8 MAC PE (hdl/fp8_mac.py) computes per beat: ``acc +
a * b`` with ``a``, ``b`` E4M3 codes and ``acc`` an IEEE-754 binary32 pattern, rounded once
to nearest even. The product of two E4M3 values has at most 8 significant bits and lies
between 2^-18 and 448^2 in magnitude, so it is exact in FP32 and the MAC is one FP32 addition
of an exact product (docs/fp8_mac.md). The model is exact integer arithmetic: every finite
FP32 value and every product is an integer multiple of 2^-149, the sum of the two is a Python
integer in those units, and one rounding step makes it an FP32 pattern again.

Conventions (IEEE 754-2019 addition, round-to-nearest-even, no exception flags):

- NaN: a NaN code in ``a`` or ``b``, or a NaN accumulator, gives the canonical quiet NaN
  :data:`QNAN` (0x7FC00000); payloads are not propagated. E4M3 has no infinity, so there is
  no ``0 * Inf`` and no ``Inf - Inf``.
- An infinite accumulator stays as it is (every product is finite).
- An exact zero sum takes the sign both terms share if they share one (``(-0) + (-0) = -0``,
  the product of a zero code is a signed zero), otherwise ``+0``.
- Subnormal accumulators are used as they are and subnormal results are kept (no flush to
  zero, no denormals-are-zero). A subnormal result needs a zero product: with a nonzero
  product the exact sum is at least 2^-42 in magnitude.
- Overflow would round to infinity, but cannot happen: ``|a * b| <= 200704`` is below half an
  ulp of the largest finite FP32 value (2^103), so a finite accumulator stays finite.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BIAS", "MAX", "NAN_CODES", "QNAN", "NEG_ZERO", "E4M3_TABLE", "decode",
           "mac_bits", "fp8_mac_bits", "fp8_dot"]

#: Exponent bias of E4M3.
BIAS = 7
#: Largest finite E4M3 magnitude (S.1111.110).
MAX = 448.0
#: The two NaN codes (S.1111.111).
NAN_CODES = (0x7F, 0xFF)
#: The canonical quiet FP32 NaN every NaN-propagating MAC returns.
QNAN = 0x7FC00000
#: FP32 -0: the identity of IEEE addition, which a tile's first beat adds its product to.
NEG_ZERO = 0x80000000
#: Units of the exact integer domain: the weight of the least significant bit of a subnormal
#: FP32 number; every FP32 value and every product of two E4M3 values is a multiple.
_UNIT_EXP = -149


def _e4m3(code: int) -> tuple[int, int, int]:
    """(sign, exponent field, significand with the hidden bit) of an E4M3 code."""
    sign, exp, frac = code >> 7, (code >> 3) & 0xF, code & 0x7
    return sign, exp, (frac | 0x8) if exp else frac


def _e4m3_value(code: int) -> float:
    if code & 0x7F == 0x7F:
        return float("nan")
    sign, exp, sig = _e4m3(code)
    # sig * 2^(max(exp, 1) - BIAS - 3): exponent fields 0 and 1 share one scale.
    return (-1.0) ** sign * float(np.ldexp(sig, max(exp, 1) - BIAS - 3))


#: The value of every E4M3 code, indexed by the code, as float32 (each one is exact there).
E4M3_TABLE = np.array([_e4m3_value(c) for c in range(256)], dtype=np.float32)
E4M3_TABLE.flags.writeable = False


def decode(codes) -> np.ndarray:
    """E4M3 codes (integers 0..255) -> their values as float32 (NaN for 0x7F, 0xFF)."""
    codes = np.asarray(codes)
    if codes.dtype.kind not in "iu" or (codes.size and (codes.min() < 0 or codes.max() > 255)):
        raise ValueError("E4M3 codes must be integers in 0..255")
    return E4M3_TABLE[codes]


def _e4m3_units(exp: int, sig: int) -> int:
    """An E4M3 magnitude in units of 2^-9 (its subnormal step)."""
    return sig << (max(exp, 1) - 1)


def _round_f32(sign: int, mag: int) -> int:
    """Round ``mag * 2^-149`` (``mag > 0``) to binary32, nearest-even, as a bit pattern."""
    lsb = max(mag.bit_length() - 24, 0)
    q, r = divmod(mag, 1 << lsb)
    half = (1 << lsb) >> 1
    if lsb and (r > half or (r == half and q & 1)):
        q += 1
    if q == 1 << 24:
        q, lsb = 1 << 23, lsb + 1
    if q < 1 << 23:
        return (sign << 31) | q
    biased = lsb + 1
    if biased >= 255:
        return (sign << 31) | 0x7F800000
    return (sign << 31) | (biased << 23) | (q - (1 << 23))


def mac_bits(acc: int, a: int, b: int) -> int:
    """``acc + a * b`` rounded once to FP32 (nearest even): ``acc`` a binary32 pattern (int
    0..2^32-1), ``a`` and ``b`` E4M3 codes (ints 0..255); returns a binary32 pattern."""
    sc, ec, frac_c = acc >> 31, (acc >> 23) & 0xFF, acc & 0x7FFFFF
    if a & 0x7F == 0x7F or b & 0x7F == 0x7F or (ec == 0xFF and frac_c):
        return QNAN
    if ec == 0xFF:
        return acc
    sa, ea, ma = _e4m3(a)
    sb, eb, mb = _e4m3(b)
    sp = sa ^ sb
    # Product in units of 2^-18, rescaled to 2^-149; the accumulator in units of 2^-149.
    prod = (_e4m3_units(ea, ma) * _e4m3_units(eb, mb)) << (-18 - _UNIT_EXP)
    addend = ((frac_c | 0x800000) if ec else frac_c) << (max(ec, 1) - 1)
    total = (-prod if sp else prod) + (-addend if sc else addend)
    if total == 0:
        return (sp << 31) if sp == sc else 0
    return _round_f32(int(total < 0), abs(total))


_mac_ufunc = np.frompyfunc(mac_bits, 3, 1)


def fp8_mac_bits(acc, a, b) -> np.ndarray:
    """Element-wise :func:`mac_bits` (broadcasting): ``acc`` binary32 patterns (uint32),
    ``a``, ``b`` E4M3 codes (integers 0..255); returns uint32 patterns."""
    acc = np.asarray(acc, dtype=np.uint32).astype(np.int64)
    a, b = (np.asarray(x) for x in (a, b))
    for name, x in (("a", a), ("b", b)):
        if x.dtype.kind not in "iu" or (x.size and (x.min() < 0 or x.max() > 255)):
            raise ValueError(f"{name} must hold E4M3 codes, integers in 0..255")
    out = _mac_ufunc(acc, a.astype(np.int64), b.astype(np.int64))
    return np.asarray(out, dtype=np.uint32)


def fp8_dot(a, b, *, init=None) -> int:
    """Sequential accumulation ``acc = mac_bits(acc, a[k], b[k])``: what the FP8 PE computes
    over one tile, as a binary32 pattern.

    ``init`` (a binary32 pattern) defaults to -0, the identity of IEEE addition, so the first
    step returns ``a[0] * b[0]`` exactly, as a tile's ``first`` beat does.
    """
    acc = NEG_ZERO if init is None else int(init)
    for x, y in zip(np.asarray(a).tolist(), np.asarray(b).tolist()):
        acc = mac_bits(acc, int(x), int(y))
    return acc
