"""The FP8 multiply-accumulate processing element: E4M3 x E4M3 into an FP32 accumulator.

An area baseline beside the 4-bit PE (hdl/pe.py) and the FP16 FMA PE (hdl/fp16_fma.py): the
straightforward hardware for OCP FP8 E4M3 operands with the FP32 accumulator FP8 training
uses, ``acc <- round(acc + a * b)`` with one round-to-nearest-even, subnormal inputs and
accumulators, infinite and NaN accumulators, no flush to zero. It matches
:func:`golden.fp8.mac_bits` bit for bit, including its canonical quiet NaN 0x7FC00000.
docs/fp8_mac.md gives the numerics and the choices.

Datapath (the FP16 FMA's split into a multiply and an accumulating add; the add is a
binary32 adder, since the product is exact in binary32):

1. :class:`Fp8Multiply`: the exact product of the two 4-bit significands (8 bits), normalised
   by an 8-bit leading-zero count (subnormal inputs leave leading zeros), and its binary32
   exponent field; nothing of it depends on the accumulator.
2. :class:`Fp8ProductAdd`: a binary32 adder. The operand of the larger exponent is swapped
   to the top (it is normalised: an accumulator above the product's exponent is a normal
   number), the other shifted right by the exponent difference into its 24 bits and 3 guard
   bits, bits shifted out jammed into a sticky bit (a trailing-zero count against the shift
   amount). One add/subtract with absolute value, a tree leading-zero count, a left shift
   and one RNE increment on ``{exponent, fraction}``. With a nonzero product every nonzero
   result lies between 2^-42 and FP32's largest finite value, so the normalisation needs no
   subnormal limit and the rounding no overflow check; a zero product passes the
   accumulator through.
3. :class:`Fp8MacPE` registers the product between the two, so a beat per cycle is accepted
   and the accumulator loop is the adder alone, as in :class:`hdl.fp16_fma.Fp16FmaPE`.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from golden.fp8 import NEG_ZERO, QNAN
from hdl.bits import leading_zeros, trailing_zeros
from hdl.float_mac import FloatMacCore, FloatMacPE

__all__ = ["PRODUCT_LAYOUT", "BEAT_LAYOUT", "Fp8Multiply", "Fp8ProductAdd", "Fp8MacCore",
           "Fp8MacPE"]

#: Bits kept below the larger operand's significand: guard, round and sticky.
GUARD_BITS = 3
#: The product's binary32 exponent field less the E4M3 exponent-field sum, plus the product's
#: leading zeros: ``sig * 2^(ea + eb - 20)`` is ``(sig << lz) * 2^(ea + eb + 114 - lz - 134)``.
PRODUCT_BIAS = 114

#: The exact product of two E4M3 numbers.
PRODUCT_LAYOUT = data.StructLayout({
    "sig": unsigned(8),     # significand product, normalised: bit 7 set unless zero
    "exp": unsigned(8),     # binary32 exponent field: value = sig * 2^(exp - 134)
    "sign": unsigned(1),
    "zero": unsigned(1),    # a or b is +-0 (and neither is NaN)
    "nan": unsigned(1),     # a NaN operand
})

#: One beat of the PE's input stream.
BEAT_LAYOUT = data.StructLayout({
    "a": unsigned(8),
    "b": unsigned(8),
    "first": unsigned(1),   # start a tile: add to -0 instead of the accumulator
    "last": unsigned(1),    # end a tile: present the accumulator on o
})


def _e4m3_fields(x):
    """Sign, exponent field, significand (hidden bit included), NaN and zero of an E4M3 code."""
    exp, frac = x[3:7], x[0:3]
    return x[7], exp, Cat(frac, exp.any()), x[0:7].all(), ~x[0:7].any()


class Fp8Multiply(wiring.Component):
    """Exact product of two E4M3 numbers: the half of the MAC that does not see the
    accumulator."""

    a: In(8)
    b: In(8)
    product: Out(PRODUCT_LAYOUT)

    def elaborate(self, platform):
        m = Module()
        sa, ea, ma, nan_a, zero_a = _e4m3_fields(self.a)
        sb, eb, mb, nan_b, zero_b = _e4m3_fields(self.b)
        sig = Signal(8)
        m.d.comb += sig.eq(ma * mb)
        _, lz = leading_zeros(sig)
        m.d.comb += [
            self.product.sig.eq(sig << lz),
            self.product.exp.eq(
                Mux(ea.any(), ea, 1) + Mux(eb.any(), eb, 1) + PRODUCT_BIAS - lz),
            self.product.sign.eq(sa ^ sb),
            self.product.zero.eq(zero_a | zero_b),
            self.product.nan.eq(nan_a | nan_b),
        ]
        return m


class Fp8ProductAdd(wiring.Component):
    """``round(c + product)`` to binary32 with one RNE rounding: the accumulating half."""

    product: In(PRODUCT_LAYOUT)
    c: In(32)
    result: Out(32)

    def elaborate(self, platform):
        m = Module()
        p = self.product
        sc, ec, frac_c = self.c[31], self.c[23:31], self.c[0:23]
        mc = Cat(frac_c, ec.any())
        ec_eff = Mux(ec.any(), ec, 1)

        product_sig, product_exp = Cat(Const(0, 16), p.sig), p.exp

        # Swap: the operand of the larger exponent is ``big``, the other is aligned to it.
        r = Signal(range(-256, 256))
        m.d.comb += r.eq(ec_eff - product_exp)
        acc_big = r > 0
        big_sig, small_sig = Mux(acc_big, mc, product_sig), Mux(acc_big, product_sig, mc)
        big_exp = Mux(acc_big, ec_eff, product_exp)
        big_sign = Mux(acc_big, sc, p.sign)
        distance = Mux(acc_big, r, -r)
        shift = Signal(5)
        m.d.comb += shift.eq(Mux(distance > 31, 31, distance[0:5]))
        small_lost = small_sig.any() & (shift > GUARD_BITS) & (
            trailing_zeros(m, small_sig) < shift - GUARD_BITS)
        small = Signal(24 + GUARD_BITS)
        m.d.comb += small.eq((Cat(Const(0, GUARD_BITS), small_sig) >> shift) | small_lost)
        big = Cat(Const(0, GUARD_BITS), big_sig)

        # Signed sum and its magnitude (negative only when the exponents are equal).
        subtract = p.sign ^ sc
        diff = Signal(len(small) + 2)
        m.d.comb += diff.eq(Mux(subtract, big - small, big + small))
        negative = subtract & diff[-1]
        mag = Signal(len(small) + 1)
        m.d.comb += mag.eq(Mux(negative, -diff, diff))
        sign = big_sign ^ negative

        # Normalisation: the leading one to the top.
        _, lz = leading_zeros(Cat(Const(-1, 32 - len(mag)), mag))
        norm = Signal(len(mag))
        m.d.comb += norm.eq(mag << lz)
        top = len(mag) - 1
        exp_field = Signal(8)
        m.d.comb += exp_field.eq(big_exp + 1 - lz)

        # Round to nearest even on {exponent, fraction}: the carry renormalises by itself.
        lsb, guard = norm[top - 23], norm[top - 24]
        sticky = norm[:top - 24].any()
        rounded = Signal(31)
        m.d.comb += rounded.eq(Cat(norm[top - 23:top], exp_field) + (guard & (sticky | lsb)))
        zero = Cat(Const(0, 31), p.sign & sc)

        with m.If(p.nan | (ec.all() & frac_c.any())):
            m.d.comb += self.result.eq(QNAN)
        with m.Elif(ec.all()):
            m.d.comb += self.result.eq(self.c)
        with m.Elif(p.zero):
            m.d.comb += self.result.eq(Mux(self.c[0:31].any(), self.c, zero))
        with m.Elif(~mag.any()):
            m.d.comb += self.result.eq(zero)
        with m.Else():
            m.d.comb += self.result.eq(Cat(rounded, sign))
        return m


class Fp8MacCore(FloatMacCore):
    """Combinational ``round(c + a * b)``: the two halves chained, for verification."""

    OPERAND_BITS, ACC_BITS, MULTIPLY, PRODUCT_ADD = 8, 32, Fp8Multiply, Fp8ProductAdd


class Fp8MacPE(FloatMacPE):
    """Stream-fed FP8 MAC: ``acc <- round(acc + a * b)`` per accepted beat, E4M3 operands,
    FP32 accumulator.

    A beat with ``first`` adds its product to -0 (the identity of IEEE addition, so the tile
    starts from exactly ``a * b``); a beat with ``last`` presents the updated accumulator on
    ``o`` and holds it until taken. The product is registered one stage ahead of the
    accumulating adder, so a beat per cycle is accepted; while a result waits on ``o`` the
    input stalls.

    Attributes
    ----------
    i : In(stream.Signature(:data:`BEAT_LAYOUT`))
    o : Out(stream.Signature(32))
        The FP32 accumulator at the end of each tile.
    LATENCY : int
        Cycles from accepting a ``last`` beat to ``o.valid``.
    """

    BEAT_LAYOUT, ACC_BITS, PRODUCT_LAYOUT, START = BEAT_LAYOUT, 32, PRODUCT_LAYOUT, NEG_ZERO
    MULTIPLY, PRODUCT_ADD = Fp8Multiply, Fp8ProductAdd
