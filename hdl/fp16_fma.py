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
   the largest finite value into infinity). It is written as a chain of steps
   (:data:`ADD_STEPS`, each a function from one struct to the next), chained combinationally
   here, so that a pipeline can register between them.
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

__all__ = ["PRODUCT_LAYOUT", "BEAT_LAYOUT", "ADD_STEPS", "Fp16Multiply", "Fp16ProductAdd",
           "Fp16FmaCore", "Fp16FmaPE"]

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
    "last": unsigned(1),    # end a tile: present the accumulator on o_acc
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


#: What the adder's steps hand on besides their own result: the exponent of the window and
#: the cases that bypass the arithmetic.
CONTEXT_LAYOUT = data.StructLayout({
    "base": unsigned(6),        # window bit 0 weighs 2^(base - 63)
    "psign": unsigned(1),       # sign of the product...
    "csign": unsigned(1),       # ...and of the addend
    "nan": unsigned(1),         # the result is the quiet NaN
    "inf": unsigned(1),         # otherwise the result is the infinity of sign inf_sign
    "inf_sign": unsigned(1),
})

#: The inputs of the adder: the registered product and the addend (the accumulator).
ADDEND_LAYOUT = data.StructLayout({"product": PRODUCT_LAYOUT, "c": unsigned(16)})
#: After the exponent comparison: the alignment shift of the addend, its significand and the
#: product's, and the special cases decided.
EXPONENT_LAYOUT = data.StructLayout({
    "ctx": CONTEXT_LAYOUT, "sig": unsigned(22), "far": unsigned(1), "zero": unsigned(1),
    "mc": unsigned(11), "mc_tz": range(12), "shift": unsigned(6), "subtract": unsigned(1)})
#: After the alignment: both operands in the window, the addend shifted and jammed.
ALIGNED_LAYOUT = data.StructLayout({"ctx": CONTEXT_LAYOUT, "prod": unsigned(WINDOW),
                                    "addend": unsigned(WINDOW), "subtract": unsigned(1)})
#: After the add: the signed sum.
SUM_LAYOUT = data.StructLayout({"ctx": CONTEXT_LAYOUT, "diff": unsigned(WINDOW + 2),
                                "subtract": unsigned(1)})
#: After the absolute value: magnitude and sign of the exact sum.
MAGNITUDE_LAYOUT = data.StructLayout({"ctx": CONTEXT_LAYOUT, "mag": unsigned(WINDOW + 1),
                                      "sign": unsigned(1), "zero": unsigned(1)})
#: After the leading-zero count: the normalising shift, limited at the subnormal scale.
LEADING_LAYOUT = data.StructLayout({"ctx": CONTEXT_LAYOUT, "mag": unsigned(WINDOW + 1),
                                    "sign": unsigned(1), "zero": unsigned(1),
                                    "amount": unsigned(6)})
#: After the normalisation: the leading one at the top (or a subnormal), its exponent field.
NORMAL_LAYOUT = data.StructLayout({"ctx": CONTEXT_LAYOUT, "norm": unsigned(WINDOW + 1),
                                   "exp_field": unsigned(7), "sign": unsigned(1),
                                   "zero": unsigned(1)})
#: After the rounding increment: exponent and fraction, the carry already in the exponent.
ROUNDED_LAYOUT = data.StructLayout({"ctx": CONTEXT_LAYOUT, "rounded": unsigned(18),
                                    "sign": unsigned(1), "zero": unsigned(1)})
#: The rounded binary16 result.
RESULT_LAYOUT = data.StructLayout({"result": unsigned(16)})


def _exponents(m: Module, x) -> dict:
    """Compare the exponents: how far to shift the addend; decide the special cases."""
    p = x.product
    sc, ec, mc, inf_c, nan_c = _fields(m, x.c)
    ec_eff = Mux(ec.any(), ec, 1)
    # r = 25 - (exponent of addend LSB - exponent of product LSB) is the right shift of the
    # addend from ADDEND_LSB; r < 0 puts the addend so far above that the product is below its
    # rounding point ("far"), and a zero product must not move c.
    r = Signal(range(-32, 64))
    m.d.comb += r.eq(p.exp - ec_eff)
    far = (r < 0) | p.zero
    subtract = p.sign ^ sc
    return {
        "sig": p.sig, "far": far, "zero": p.zero, "mc": mc, "mc_tz": trailing_zeros(m, mc),
        "shift": Mux(far, 0, r[0:6]),
        "subtract": subtract,
        "ctx": {
            # Window bit 0 weighs 2^(base - 63) with base the product's or the addend's
            # exponent.
            "base": Mux(far, ec_eff, p.exp),
            "psign": p.sign,
            "csign": sc,
            "nan": p.nan | nan_c | (p.inf & inf_c & subtract),
            # An infinite product wins over an infinite addend (their sum is NaN if opposite).
            "inf": p.inf | inf_c,
            "inf_sign": Mux(p.inf, p.sign, sc),
        },
    }


def _align(m: Module, x) -> dict:
    """Align the addend to the product in the window, bits shifted out below it jammed into a
    sticky bit (its trailing zeros against the shift amount, no wide OR); a far product
    becomes the sticky bit itself."""
    lost = x.mc.any() & (x.shift > ADDEND_LSB) & (x.mc_tz < x.shift - ADDEND_LSB)
    return {"ctx": x.ctx, "subtract": x.subtract,
            "addend": (Cat(Const(0, ADDEND_LSB), x.mc) >> x.shift) | lost,
            "prod": Mux(x.far, ~x.zero, x.sig << PRODUCT_LSB)}


def _add(m: Module, x) -> dict:
    """The signed sum in the window."""
    return {"ctx": x.ctx, "subtract": x.subtract,
            "diff": Mux(x.subtract, x.prod - x.addend, x.prod + x.addend)}


def _magnitude(m: Module, x) -> dict:
    """Magnitude and sign of the sum."""
    negative = x.subtract & x.diff[-1]
    mag = Signal(WINDOW + 1)
    m.d.comb += mag.eq(Mux(negative, -x.diff, x.diff))
    return {"ctx": x.ctx, "mag": mag, "sign": Mux(negative, x.ctx.csign, x.ctx.psign),
            "zero": ~mag.any()}


def _leading(m: Module, x) -> dict:
    """The normalising shift: the leading one to the top, but never past the weight 2^-14 (the
    subnormal scale), which is ``base`` positions from the top."""
    padded = Cat(Const(-1, 64 - len(x.mag)), x.mag)
    _, lz = leading_zeros(padded)
    return {"ctx": x.ctx, "mag": x.mag, "sign": x.sign, "zero": x.zero,
            "amount": Mux(lz < x.ctx.base, lz, x.ctx.base)}


def _normalise(m: Module, x) -> dict:
    norm = Signal(len(x.mag))
    m.d.comb += norm.eq(x.mag << x.amount)
    top = len(norm) - 1
    return {"ctx": x.ctx, "norm": norm, "sign": x.sign, "zero": x.zero,
            "exp_field": Mux(norm[top], x.ctx.base + 1 - x.amount, 0)}


def _round(m: Module, x) -> dict:
    """Round to nearest even on {exponent, fraction}: the carry renormalises by itself."""
    norm, top = x.norm, len(x.norm) - 1
    lsb, guard = norm[top - 10], norm[top - 11]
    sticky = norm[:top - 11].any()
    return {"ctx": x.ctx, "sign": x.sign, "zero": x.zero,
            "rounded": Cat(norm[top - 10:top], x.exp_field) + (guard & (sticky | lsb))}


def _select(m: Module, x) -> dict:
    """The binary16 result: the rounded sum (infinity past the largest finite), or a special
    case, or the exact zero with IEEE's sign."""
    rounded = x.rounded
    overflow = rounded[10:] >= 31
    finite = Mux(overflow, Cat(Const(0, 10), Const(31, 5), x.sign),
                 Cat(rounded[0:15], x.sign))
    zero = Cat(Const(0, 15), x.ctx.psign & x.ctx.csign)
    result = Signal(16)
    with m.If(x.ctx.nan):
        m.d.comb += result.eq(QNAN)
    with m.Elif(x.ctx.inf):
        m.d.comb += result.eq(Cat(Const(0, 10), Const(31, 5), x.ctx.inf_sign))
    with m.Elif(x.zero):
        m.d.comb += result.eq(zero)
    with m.Else():
        m.d.comb += result.eq(finite)
    return {"result": result}


#: The adder as a chain of steps, each a function of the previous step's struct (the first
#: of an :data:`ADDEND_LAYOUT`) returning the fields of its own layout. :class:`Fp16ProductAdd`
#: chains them combinationally.
ADD_STEPS = (
    ("exponents", EXPONENT_LAYOUT, _exponents),
    ("align", ALIGNED_LAYOUT, _align),
    ("add", SUM_LAYOUT, _add),
    ("magnitude", MAGNITUDE_LAYOUT, _magnitude),
    ("leading", LEADING_LAYOUT, _leading),
    ("normalise", NORMAL_LAYOUT, _normalise),
    ("round", ROUNDED_LAYOUT, _round),
    ("select", RESULT_LAYOUT, _select),
)


def _assign(target, fields: dict) -> list:
    """Statements driving the struct view ``target`` from nested dicts of field values."""
    out = []
    for name, value in fields.items():
        if isinstance(value, dict):
            out += _assign(getattr(target, name), value)
        else:
            out.append(getattr(target, name).eq(value))
    return out


def chain_steps(m: Module, x, steps, prefix: str = "add"):
    """``steps`` (entries of :data:`ADD_STEPS`) applied one after the other to ``x``,
    combinationally: the last step's struct (a comb signal)."""
    for name, layout, step in steps:
        out = Signal(layout, name=f"{prefix}_{name}")
        m.d.comb += _assign(out, step(m, x))
        x = out
    return x


class Fp16ProductAdd(wiring.Component):
    """``round(product + c)`` to binary16 with one RNE rounding: the accumulating half
    (the steps of :data:`ADD_STEPS`, chained)."""

    product: In(PRODUCT_LAYOUT)
    c: In(16)
    result: Out(16)

    def elaborate(self, platform):
        m = Module()
        x = Signal(ADDEND_LAYOUT)
        m.d.comb += [x.product.eq(self.product), x.c.eq(self.c)]
        m.d.comb += self.result.eq(chain_steps(m, x, ADD_STEPS).result)
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
    accumulator on ``o_acc`` and holds it until taken. The product is registered one stage
    ahead of the accumulating adder, so a beat per cycle is accepted; while a result waits on
    ``o_acc`` the input stalls.

    Attributes
    ----------
    i_beat : In(stream.Signature(:data:`BEAT_LAYOUT`))
    o_acc : Out(stream.Signature(16))
        The FP16 accumulator at the end of each tile.
    LATENCY : int
        Cycles from accepting a ``last`` beat to ``o_acc.valid``.
    """

    i_beat: In(stream.Signature(BEAT_LAYOUT))
    o_acc: Out(stream.Signature(16))

    @property
    def LATENCY(self) -> int:
        return 2

    def elaborate(self, platform):
        m = Module()
        m.submodules.multiply = multiply = Fp16Multiply()
        m.submodules.add = add = Fp16ProductAdd()
        accumulate_products(m, self.i_beat, self.o_acc, multiply, add, PRODUCT_LAYOUT,
                            0x8000)
        return m

