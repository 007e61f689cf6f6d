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
   here and registered between them in the pipelined PE.
3. :class:`Fp16FmaPE` registers the product between the two (the product does not depend on
   the accumulator), so one beat per cycle is accepted and the accumulator loop is the adder
   alone: the pipelining any real FMA unit has.
4. :class:`Fp16FmaPipelinedPE` cuts that loop into :data:`PIPELINED_CUTS` stages and keeps as
   many dot products in flight, interleaved beat by beat: one MAC per clock at a clock near
   the 4-bit PE's, each dot product still the sequential chain of (3), bit for bit
   (docs/synth.md, "The pipelined FP16 FMA").
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.fp16 import QNAN
from hdl.bits import leading_zeros, trailing_zeros
from hdl.float_mac import FloatMacCore, FloatMacPE
from hdl.stream import Pipeline

__all__ = ["PRODUCT_LAYOUT", "BEAT_LAYOUT", "ADD_STEPS", "PIPELINED_CUTS", "Fp16Multiply",
           "Fp16ProductAdd", "Fp16FmaCore", "Fp16FmaPE", "Fp16FmaPipelinedPE"]

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
#: chains them combinationally; :class:`Fp16FmaPipelinedPE` registers between groups of them.
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


class Fp16FmaCore(FloatMacCore):
    """Combinational ``round(a * b + c)``: the two halves chained, for verification."""

    OPERAND_BITS, ACC_BITS, MULTIPLY, PRODUCT_ADD = 16, 16, Fp16Multiply, Fp16ProductAdd


class Fp16FmaPE(FloatMacPE):
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

    BEAT_LAYOUT, ACC_BITS, PRODUCT_LAYOUT, START = BEAT_LAYOUT, 16, PRODUCT_LAYOUT, 0x8000
    MULTIPLY, PRODUCT_ADD = Fp16Multiply, Fp16ProductAdd


#: The adder steps of each register stage of :class:`Fp16FmaPipelinedPE`'s accumulation loop,
#: in order (docs/synth.md, "The pipelined FP16 FMA"): one stage per group, so as many
#: interleaved dot products (slots) as groups.
PIPELINED_CUTS = (("exponents",), ("align",), ("add",), ("magnitude",), ("leading",), ("normalise",),
                  ("round",), ("select",))


class Fp16FmaPipelinedPE(wiring.Component):
    """The FP16 FMA PE pipelined to the 4-bit PE's clock: ``L`` dot products interleaved.

    The accumulation ``acc <- fma(a, b, acc)`` is a loop through the whole adder, so cutting the
    adder into ``L`` register stages only keeps one MAC per clock if ``L`` independent
    accumulators are in flight: the PE holds ``L`` of them (slots), and each dot product is
    still the exact sequential FP16 FMA chain of :func:`golden.fp16.fp16_dot` in K order, one
    RNE rounding per step, bit for bit :class:`Fp16FmaPE`'s (same adder, same steps).

    Slots are addressed by beat order, round-robin: the n-th beat accepted since reset belongs
    to slot ``n mod L``. So the stream is ``L`` dot products interleaved beat by beat (beat k of
    the dot product in slot j is beat ``k * L + j`` of its run), each slot starting a dot
    product with ``first`` and ending it with ``last`` on its own beats (slots need not start
    or end together; a slot's first beat after reset must carry ``first``). Stalls and idle
    cycles anywhere are allowed: a slot only advances on its own beats.

    Pipeline (hdl.stream.Pipeline): the product stage (:class:`Fp16Multiply`, outside the
    loop), then the loop: the adder's steps (:data:`ADD_STEPS`) grouped by ``cuts`` into ``L``
    stages, the first reading the slot's accumulator (or -0 on ``first``), the last writing it
    back. A beat's accumulator is written ``L`` accepted beats (or more) before the same slot's
    next beat reads it, so no bypass is needed: the loop holds ``L - 1`` pipeline registers and
    the accumulator register, one per slot in flight.

    Parameters
    ----------
    cuts : tuple of tuples of str
        The step names of each loop stage, in order, covering :data:`ADD_STEPS` exactly;
        ``L = len(cuts)``. Default :data:`PIPELINED_CUTS`.

    Attributes
    ----------
    i : In(stream.Signature(:data:`BEAT_LAYOUT`))
        One MAC per beat, ``first`` and ``last`` as in :class:`Fp16FmaPE`, for slot
        ``n mod L``.
    o : Out(stream.Signature(16))
        The slot's FP16 accumulator after each ``last`` beat, in the order of those beats; held
        until taken (the input stalls only when another ``last`` result reaches it meanwhile).
    slots : int
        ``L``, the dot products in flight.
    LATENCY : int
        Cycles from accepting a ``last`` beat to its ``o.valid``: ``L + 1`` (the product
        stage, the ``L - 1`` loop registers, the output register) when the output is ready.
    """

    def __init__(self, cuts=PIPELINED_CUTS):
        names = [name for name, _, _ in ADD_STEPS]
        if not cuts or any(not group for group in cuts) or [n for g in cuts for n in g] != names:
            raise ValueError(f"cuts must group the adder steps {names} in order, each stage "
                             f"at least one, not {cuts!r}")
        self._cuts = tuple(tuple(group) for group in cuts)
        super().__init__({
            "i": In(stream.Signature(BEAT_LAYOUT)),
            "o": Out(stream.Signature(16)),
        })

    @property
    def slots(self) -> int:
        return len(self._cuts)

    @property
    def LATENCY(self) -> int:
        return self.slots + 1

    def elaborate(self, platform):
        m = Module()
        slots = self.slots
        steps = {name: (name, layout, fn) for name, layout, fn in ADD_STEPS}
        tag = {"last": unsigned(1), "slot": range(slots)}

        # Round-robin slot of the next accepted beat.
        slot = Signal(range(slots))
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += slot.eq(Mux(slot == slots - 1, 0, slot + 1))

        m.submodules.multiply = multiply = Fp16Multiply()
        beat = self.i.payload
        m.d.comb += [multiply.a.eq(beat.a), multiply.b.eq(beat.b)]
        pipe = Pipeline(m, "fma", self.i)
        stage = pipe.stage("product", data.StructLayout(
            {"product": PRODUCT_LAYOUT, "first": unsigned(1), **tag}),
            {"product": multiply.product, "first": beat.first, "last": beat.last,
             "slot": slot})

        # The loop: the slot's accumulator (-0 to start a dot product) through the steps.
        accs = Signal(data.ArrayLayout(16, slots))
        x = Signal(ADDEND_LAYOUT)
        m.d.comb += [x.product.eq(stage.product),
                     x.c.eq(Mux(stage.first, 0x8000, accs[stage.slot]))]
        for k, group in enumerate(self._cuts):
            out = chain_steps(m, x, [steps[name] for name in group], prefix=f"loop{k}")
            if k == slots - 1:
                break
            stage_k = pipe.stage(f"loop{k}", data.StructLayout({"data": out.shape(), **tag}),
                                 {"data": out, "last": stage.last, "slot": stage.slot})
            stage, x = stage_k, stage_k.data

        # The last stage's result: written back to its slot and, if it ends a dot product, to
        # the output register. Only a result for a full output register waits.
        done = stream.Signature(data.StructLayout({"result": unsigned(16), **tag})).create()
        pipe.connect(done, {"result": out.result, "last": stage.last, "slot": stage.slot})
        m.d.comb += done.ready.eq(~done.payload.last | ~self.o.valid | self.o.ready)
        result = Signal(16)
        m.d.comb += self.o.payload.eq(result)
        with m.If(done.valid & done.ready):
            m.d.sync += accs[done.payload.slot].eq(done.payload.result)
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(done.valid & done.ready & done.payload.last):
            m.d.sync += [self.o.valid.eq(1), result.eq(done.payload.result)]
        return m
