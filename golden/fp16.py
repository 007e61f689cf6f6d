"""FP16 in the golden model: conversions, the field split, and the exact fused multiply-add.

Conversions (:func:`to_fp16`, :func:`fp16_from_f32`, :func:`round_f32_to_fp16`) round to
nearest even exactly once, as the hardware's FP16 inputs are; :func:`fp16_fields` splits FP16
values into the sign, normalised significand and exponent the R4 quantizer works on.

``fp16_fma(a, b, c)`` returns ``round(a * b + c)`` with a *single* IEEE-754 round-to-nearest-
even rounding, computed in exact integer arithmetic. Going through float64 would be wrong: the
exact product of two binary16 numbers needs 22 significant bits and the sum can span 80 bits,
so a float64 intermediate would round twice.

Method. Every finite binary16 value is an integer multiple of 2^-24, so every product is an
integer multiple of 2^-48. In units of 2^-48 the product and the addend are Python integers
(at most 80 bits), their sum is exact, and one rounding step turns it back into binary16.

Conventions (IEEE 754-2019 with round-to-nearest-even, no exception flags):

- NaN: any NaN operand, ``0 * inf`` (whatever ``c`` is) and ``inf + (-inf)`` give the canonical
  quiet NaN :data:`QNAN` (0x7E00, positive, quiet bit set, zero payload). Payloads are not
  propagated, so signalling NaNs come out as the canonical quiet NaN too.
- An exact zero sum takes the sign both terms share if they share one (``(-0) + (-0) = -0``,
  also when the product ``a * b`` is a signed zero), otherwise ``+0`` (``x + (-x) = +0``).
- Overflow rounds to infinity (round-to-nearest overflows when the exact result is at least
  65520); subnormal results are kept (no flush to zero), and rounding may carry a subnormal
  into the smallest normal number.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

# --------------------------------------------------------------------------- conversions


def to_fp16(x) -> np.ndarray:
    """Floats -> float16, rounding wider floats once to nearest-even (IEEE).

    For float32 and float64 this is numpy's cast. NumPy casts a long double to float16 through
    float64, which rounds twice; a long double is therefore first narrowed to float64 with
    round-to-odd, after which the RNE cast to float16 is the single rounding (float64 keeps
    more than the 11 + 2 significant bits that round-to-odd needs).
    """
    arr = np.asarray(x)
    if arr.dtype.kind != "f":
        raise TypeError(f"expected a floating-point array (FP16 values), not dtype {arr.dtype}; "
                        "to pass raw FP16 bit patterns use bits.view(np.float16)")
    if arr.dtype.itemsize > 8:
        arr = _round_to_odd_f64(arr)
    return arr.astype(np.float16)


def _round_to_odd_f64(arr: np.ndarray) -> np.ndarray:
    """Long doubles -> float64, rounded to odd: an inexact result gets an odd last bit."""
    with np.errstate(over="ignore"):
        d = np.atleast_1d(arr.astype(np.float64))
    wide = np.atleast_1d(arr)
    fix = (d != wide) & np.isfinite(d) & (d.view(np.uint64) & 1 == 0)
    d[fix] = np.nextafter(d[fix], np.where(wide[fix] > d[fix], np.inf, -np.inf))
    return d.reshape(arr.shape)


class Fp16Fields(NamedTuple):
    """The fields of FP16 values as int64 arrays (see :func:`fp16_fields`)."""

    sign: np.ndarray      # 0/1
    man: np.ndarray       # significand normalised to 11 bits (1024..2047), 0 for zero
    exp: np.ndarray       # floor(log2|x|) for finite non-zero x
    zero: np.ndarray
    nan: np.ndarray
    inf: np.ndarray


def fp16_fields(h: np.ndarray) -> Fp16Fields:
    """Split float16 values into sign, normalised 11-bit significand and unbiased exponent."""
    bits = h.view(np.uint16).astype(np.int64)
    sign = bits >> 15
    e = (bits >> 10) & 0x1F
    f = bits & 0x3FF
    nan = (e == 31) & (f != 0)
    inf = (e == 31) & (f == 0)
    zero = (e == 0) & (f == 0)
    # Subnormals: f * 2^-24; shift the significand up to 11 bits and lower the exponent to match.
    lz = np.where(f > 0, 11 - _bit_length(f), 0)
    man = np.where(e == 0, f << lz, 1024 + f)
    exp = np.where(e == 0, -14 - lz, e - 15)
    man = np.where(zero | nan | inf, 0, man)
    return Fp16Fields(sign, man, exp, zero, nan, inf)


def _bit_length(v: np.ndarray) -> np.ndarray:
    """Bit length of non-negative int64 values below 2**16 (0 for 0).

    ``frexp`` writes v = m * 2^k with 0.5 <= m < 1, so k is the bit length; exact, since every
    integer below 2**53 is a float64.
    """
    return np.frexp(v.astype(np.float64))[1].astype(np.int64)


def fp16_from_f32(x: np.ndarray) -> np.ndarray:
    """float32 -> float16 with round-to-nearest-even, identical to ``x.astype(np.float16)``.

    NumPy's own cast is scalar software, and very slow (~150 ns per element) whenever a result
    underflows or overflows. Here one float32 addition does the rounding for normal and
    subnormal results alike: |x| + c with c = 2^(max(e, -14) + 13) (e the exponent of x)
    leaves exactly FP16's 11 significant bits (or its 2^-24 step) of |x| in the sum, rounded
    to nearest even, and the sum's bit pattern minus c's is the FP16 significand. Checked
    against NumPy's cast on every non-NaN float32. NaN inputs are not supported (callers
    reject them first); overflow gives +-Inf as the cast does.
    """
    f = np.ascontiguousarray(x, dtype=np.float32)
    b = f.view(np.uint32)
    a = b & np.uint32(0x7FFFFFFF)
    np.minimum(a, np.uint32(0x47800000), out=a)          # from 2^16 up: Inf
    c = a & np.uint32(0x7F800000)
    np.maximum(c, np.uint32(0x38800000), out=c)          # exponent max(e, -14) ...
    c += np.uint32(13 << 23)                             # ... + 13
    r = (a.view(np.float32) + c.view(np.float32)).view(np.uint32)
    r -= c
    # Add back c's exponent as an FP16 exponent field: (e + 140) << 10, rebased to (e + 14).
    c >>= 13
    r += c
    r -= np.uint32(0x1F800)
    b = b >> 16
    b &= np.uint32(0x8000)
    r |= b
    return r.astype(np.uint16).view(np.float16)


def round_f32_to_fp16(x: np.ndarray) -> np.ndarray:
    """float32 -> the nearest FP16 value (ties to even), kept as float32; +-Inf on overflow.

    Same result as ``x.astype(np.float16).astype(np.float32)`` without the slow casts.
    """
    f = np.ascontiguousarray(x, dtype=np.float32)
    b = f.view(np.uint32)
    a = b & 0x7FFFFFFF
    normal = ((b + 0xFFF + ((b >> 13) & 1)) & np.uint32(0xFFFFE000)).view(np.float32)
    normal = np.where((a + 0xFFF + ((a >> 13) & 1)) >= 0x477FF000 + 0x1000,
                      np.copysign(np.float32(np.inf), f), normal)
    tiny = np.minimum(np.abs(f), np.float32(2.0 ** -14))
    tiny = np.copysign(np.rint(tiny * np.float32(2.0 ** 24)) * np.float32(2.0 ** -24), f)
    return np.where(a >= 0x38800000, normal, tiny)



# --------------------------------------------------------------------------- exact FMA

#: The canonical quiet NaN every invalid or NaN-propagating FMA returns.
QNAN = 0x7E00
#: Bit patterns of the infinities.
POS_INF, NEG_INF = 0x7C00, 0xFC00
#: Units of the exact integer domain: every product of two binary16 numbers is a multiple.
_UNIT_EXP = -48
#: Unit position of the least significant bit of a subnormal binary16 number (2^-24).
_SUBNORMAL_LSB = -24 - _UNIT_EXP


def _decode(h: int) -> tuple[int, int, int]:
    """Split a pattern into (sign, exponent field, significand incl. hidden bit)."""
    sign, exp, frac = h >> 15, (h >> 10) & 0x1F, h & 0x3FF
    return sign, exp, (frac | 0x400) if exp else frac


def _units(exp: int, sig: int) -> int:
    """A finite magnitude in units of 2^-24 (exponent field 0 and 1 share one scale)."""
    return sig << (max(exp, 1) - 1)


def _round_units(sign: int, mag: int) -> int:
    """Round ``mag * 2^-48`` (``mag > 0``) to binary16, nearest-even, as a bit pattern."""
    msb = mag.bit_length() - 1
    lsb = max(msb - 10, _SUBNORMAL_LSB)
    q, r = divmod(mag, 1 << lsb)
    half = 1 << (lsb - 1)
    if r > half or (r == half and q & 1):
        q += 1
    if q == 2048:
        q, lsb = 1024, lsb + 1
    if q < 1024:
        return (sign << 15) | q
    biased = lsb - _SUBNORMAL_LSB + 1
    if biased >= 31:
        return (sign << 15) | POS_INF
    return (sign << 15) | (biased << 10) | (q - 1024)


def fma_bits(a: int, b: int, c: int) -> int:
    """``round(a * b + c)`` on binary16 bit patterns (ints 0..0xFFFF), single RNE rounding."""
    sa, ea, ma = _decode(a)
    sb, eb, mb = _decode(b)
    sc, ec, mc = _decode(c)
    sp = sa ^ sb
    nan_a, nan_b, nan_c = (e == 31 and m & 0x3FF for e, m in ((ea, ma), (eb, mb), (ec, mc)))
    inf_a, inf_b, inf_c = (e == 31 and not m & 0x3FF for e, m in ((ea, ma), (eb, mb), (ec, mc)))
    zero_a, zero_b = ma == 0, mb == 0
    if nan_a or nan_b or nan_c or (inf_a and zero_b) or (inf_b and zero_a):
        return QNAN
    inf_p = inf_a or inf_b
    if inf_p and inf_c and sp != sc:
        return QNAN
    if inf_p:
        return (sp << 15) | POS_INF
    if inf_c:
        return c
    prod = _units(ea, ma) * _units(eb, mb)
    addend = _units(ec, mc) << -(_UNIT_EXP + 24)
    total = (-prod if sp else prod) + (-addend if sc else addend)
    if total == 0:
        return (sp << 15) if sp == sc else 0
    return _round_units(int(total < 0), abs(total))


_fma_ufunc = np.frompyfunc(fma_bits, 3, 1)


def fp16_fma(a, b, c) -> np.ndarray:
    """Element-wise exact ``round(a * b + c)`` on float16 arrays (broadcasting), -> float16.

    Inputs must already be float16 (pass raw patterns as ``bits.view(np.float16)``): a wider
    float would need a rounding of its own first, which is not part of the FMA.
    """
    arrays = [np.asarray(x) for x in (a, b, c)]
    for name, arr in zip("abc", arrays):
        if arr.dtype != np.float16:
            raise TypeError(f"{name} must be a float16 array, not dtype {arr.dtype}")
    bits = [arr.view(np.uint16).astype(np.int64) for arr in arrays]
    out = _fma_ufunc(*bits)
    return np.asarray(out, dtype=np.uint16).view(np.float16)


def fp16_fma_bits(a, b, c) -> np.ndarray:
    """:func:`fp16_fma` on uint16 bit-pattern arrays, returning uint16 patterns."""
    arrays = [np.asarray(x, dtype=np.uint16).view(np.float16) for x in (a, b, c)]
    return fp16_fma(*arrays).view(np.uint16)


def fp16_dot(a, b, *, init=None) -> np.float16:
    """Sequential FMA accumulation ``acc = fma(a[k], b[k], acc)``: what the FP16 PE computes.

    ``init`` defaults to -0, the identity of IEEE addition (``x + (-0) = x`` for every x, also
    ``-0``), so the first step returns ``round(a[0] * b[0])`` exactly as a cleared accumulator.
    """
    acc = 0x8000 if init is None else int(np.asarray(init, np.float16).view(np.uint16))
    for x, y in zip(np.asarray(a, np.float16).view(np.uint16),
                    np.asarray(b, np.float16).view(np.uint16)):
        acc = fma_bits(int(x), int(y), acc)
    return np.uint16(acc).view(np.float16)
