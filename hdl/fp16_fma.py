"""The FP16 fused multiply-add processing element: the baseline the 4-bit PE is measured against.

The paper's baseline accumulates MAC outputs in FP16. The fair hardware for that is a full
IEEE-754 binary16 FMA with an FP16 accumulator, ``acc <- round(a * b + acc)`` with a single
round-to-nearest-even, subnormal inputs and outputs, infinities and NaN: what a real FP16 unit
must build, no corner cut (no flush-to-zero, no truncation, no second rounding). It matches
:func:`golden.fp16.fma_bits` bit for bit, including its canonical quiet NaN 0x7E00.

Datapath (the classic single-path FMA, sized for binary16):

1. :class:`Fp16Multiply`: the exact product of the two 11-bit significands (22 bits) and the
   sum of the exponent fields; subnormal inputs are *not* normalised first: the adder's window
   has room below the product instead (13 bits), which costs about what two input normalisers
   would.
2. :class:`Fp16ProductAdd`: the addend is placed 3 bits above the product's top in a 49-bit
   window and shifted right by the exponent difference; bits shifted out below the window are
   jammed into a sticky bit (a trailing-zero count against the shift amount, no wide OR).
   When the addend is so far above that the product lies entirely below its rounding point,
   the product itself becomes the sticky bit. One signed add/subtract, absolute value, a
   tree leading-zero count, a left shift limited so that tiny results come out subnormal, and
   one RNE increment on ``{exponent, fraction}`` (its carry moves subnormals into normals and
   the largest finite value into infinity).
3. :class:`Fp16FmaPE` registers the product between the two (the product does not depend on
   the accumulator), so one beat per cycle is accepted and the accumulator loop is the adder
   alone: the pipelining any real FMA unit has.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.fp16 import QNAN
from hdl.bits import leading_zeros, trailing_zeros
from hdl.stream import accumulate_products

__all__ = ["PRODUCT_LAYOUT", "BEAT_LAYOUT", "Fp16Multiply", "Fp16ProductAdd", "Fp16FmaCore",
           "Fp16FmaPE"]

#: Bits of the adder's window: 13 below the product, 22 product bits, 3 spare, 11 addend bits.
WINDOW = 49
#: Window position of the product's least significant bit (room for a subnormal product's tail).
PRODUCT_LSB = 13
#: Window position of the addend's least significant bit before alignment.
ADDEND_LSB = 38

#: The exact product of two binary16 numbers, before any rounding.
PRODUCT_LAYOUT = data.StructLayout({
    "sig": unsigned(22),    # significand product (hidden bits included)
    "exp": unsigned(6),     # max(ea, 1) + max(eb, 1): value = sig * 2^(exp - 50)
    "sign": unsigned(1),
    "zero": unsigned(1),    # a or b is +-0 (and neither is Inf/NaN)
    "inf": unsigned(1),     # +-Inf times a nonzero number
    "nan": unsigned(1),     # a NaN operand or 0 * Inf
})

#: One beat of the PE's input stream.
BEAT_LAYOUT = data.StructLayout({
    "a": unsigned(16),
    "b": unsigned(16),
    "first": unsigned(1),   # start a tile: add to -0 instead of the accumulator
    "last": unsigned(1),    # end a tile: present the accumulator on o
})


def _fields(m: Module, x):
    """Sign, exponent field, significand (hidden bit included), Inf and NaN of a binary16."""
    exp, frac = x[10:15], x[0:10]
    sig = Signal(11)
    m.d.comb += sig.eq(Cat(frac, exp.any()))
    top = exp.all()
    return x[15], exp, sig, top & ~frac.any(), top & frac.any()


class Fp16Multiply(wiring.Component):
    """Exact product of two binary16 numbers: the half of the FMA that does not see the addend."""

    a: In(16)
    b: In(16)
    product: Out(PRODUCT_LAYOUT)

    def elaborate(self, platform):
        m = Module()
        sa, ea, ma, inf_a, nan_a = _fields(m, self.a)
        sb, eb, mb, inf_b, nan_b = _fields(m, self.b)
        zero_a, zero_b = ~self.a[0:15].any(), ~self.b[0:15].any()
        nan = nan_a | nan_b | (inf_a & zero_b) | (inf_b & zero_a)
        m.d.comb += [
            self.product.sig.eq(ma * mb),
            self.product.exp.eq(Mux(ea.any(), ea, 1) + Mux(eb.any(), eb, 1)),
            self.product.sign.eq(sa ^ sb),
            self.product.zero.eq(zero_a | zero_b),
            self.product.inf.eq(inf_a | inf_b),
            self.product.nan.eq(nan),
        ]
        return m


class Fp16ProductAdd(wiring.Component):
    """``round(product + c)`` to binary16 with one RNE rounding: the accumulating half."""

    product: In(PRODUCT_LAYOUT)
    c: In(16)
    result: Out(16)

    def elaborate(self, platform):
        m = Module()
        p = self.product
        sc, ec, mc, inf_c, nan_c = _fields(m, self.c)
        ec_eff = Mux(ec.any(), ec, 1)

        # Alignment. r = 25 - (exponent of addend LSB - exponent of product LSB) is the right
        # shift of the addend from ADDEND_LSB; r < 0 puts the addend so far above that the
        # product is below its rounding point ("far"), and a zero product must not move c.
        r = Signal(range(-32, 64))
        m.d.comb += r.eq(p.exp - ec_eff)
        far = (r < 0) | p.zero
        shift = Signal(6)
        m.d.comb += shift.eq(Mux(far, 0, r[0:6]))
        addend_lost = mc.any() & (shift > ADDEND_LSB) & (
            trailing_zeros(m, mc) < shift - ADDEND_LSB)
        addend = Signal(WINDOW)
        m.d.comb += addend.eq((Cat(Const(0, ADDEND_LSB), mc) >> shift) | addend_lost)
        prod = Signal(WINDOW)
        m.d.comb += prod.eq(Mux(far, ~p.zero, p.sig << PRODUCT_LSB))
        # Window bit 0 weighs 2^(base - 63) with base the product's or the addend's exponent.
        base = Signal(6)
        m.d.comb += base.eq(Mux(far, ec_eff, p.exp))

        # Signed sum and its magnitude.
        subtract = p.sign ^ sc
        diff = Signal(WINDOW + 2)
        m.d.comb += diff.eq(Mux(subtract, prod - addend, prod + addend))
        negative = subtract & diff[-1]
        mag = Signal(WINDOW + 1)
        m.d.comb += mag.eq(Mux(negative, -diff, diff))
        sign = Mux(negative, sc, p.sign)

        # Normalisation: shift the leading one to the top, but never past the weight 2^-14
        # (the subnormal scale), which is ``base`` positions from the top.
        padded = Cat(Const(-1, 64 - len(mag)), mag)
        _, lz = leading_zeros(padded)
        amount = Signal(6)
        m.d.comb += amount.eq(Mux(lz < base, lz, base))
        norm = Signal(len(mag))
        m.d.comb += norm.eq(mag << amount)
        top = len(mag) - 1
        exp_field = Signal(7)
        m.d.comb += exp_field.eq(Mux(norm[top], base + 1 - amount, 0))

        # Round to nearest even on {exponent, fraction}: the carry renormalises by itself.
        lsb, guard = norm[top - 10], norm[top - 11]
        sticky = norm[:top - 11].any()
        rounded = Signal(18)
        m.d.comb += rounded.eq(Cat(norm[top - 10:top], exp_field) + (guard & (sticky | lsb)))
        overflow = rounded[10:] >= 31
        finite = Mux(overflow, Cat(Const(0, 10), Const(31, 5), sign),
                     Cat(rounded[0:15], sign))
        zero = Cat(Const(0, 15), p.sign & sc)

        nan = p.nan | nan_c | (p.inf & inf_c & subtract)
        with m.If(nan):
            m.d.comb += self.result.eq(QNAN)
        with m.Elif(p.inf):
            m.d.comb += self.result.eq(Cat(Const(0, 10), Const(31, 5), p.sign))
        with m.Elif(inf_c):
            m.d.comb += self.result.eq(self.c)
        with m.Elif(~mag.any()):
            m.d.comb += self.result.eq(zero)
        with m.Else():
            m.d.comb += self.result.eq(finite)
        return m


class Fp16FmaCore(wiring.Component):
    """Combinational ``round(a * b + c)``: the two halves chained, for verification."""

    a: In(16)
    b: In(16)
    c: In(16)
    result: Out(16)

    def elaborate(self, platform):
        m = Module()
        m.submodules.multiply = multiply = Fp16Multiply()
        m.submodules.add = add = Fp16ProductAdd()
        m.d.comb += [
            multiply.a.eq(self.a),
            multiply.b.eq(self.b),
            add.product.eq(multiply.product),
            add.c.eq(self.c),
            self.result.eq(add.result),
        ]
        return m


class Fp16FmaPE(wiring.Component):
    """Stream-fed FP16 MAC: ``acc <- fma(a, b, acc)`` per accepted beat, FP16 accumulator.

    A beat with ``first`` adds its product to -0 (the identity of IEEE addition, so the tile
    starts from exactly ``round(a * b)``); a beat with ``last`` presents the updated
    accumulator on ``o`` and holds it until taken. The product is registered one stage
    ahead of the accumulating adder, so a beat per cycle is accepted; while a result waits on
    ``o`` the input stalls.

    Attributes
    ----------
    i : In(stream.Signature(:data:`BEAT_LAYOUT`))
    o : Out(stream.Signature(16))
        The FP16 accumulator at the end of each tile.
    LATENCY : int
        Cycles from accepting a ``last`` beat to ``o.valid``.
    """

    i: In(stream.Signature(BEAT_LAYOUT))
    o: Out(stream.Signature(16))

    @property
    def LATENCY(self) -> int:
        return 2

    def elaborate(self, platform):
        m = Module()
        m.submodules.multiply = multiply = Fp16Multiply()
        m.submodules.add = add = Fp16ProductAdd()
        accumulate_products(m, self.i, self.o, multiply, add, PRODUCT_LAYOUT,
                            0x8000)
        return m
