"""The 4-bit multiply-accumulate processing element of docs/numerics.md section 6.

One PE computes every product a 4-bit training step needs: INT4/UINT4 x INT4/UINT4 in the
forward GEMM and INT4/UINT4 x R4 in both backward GEMMs, and adds it exactly into an
accumulator with sticky saturation. The two kinds of product share one datapath:

    product = (a * m) << sh

- integer B: m is B's value (-8..15), sh = 0: a 5 x 5 signed multiply;
- R4 B:      m is -1, 0 or +1 (sign, or zero for e = 0) and sh = 2e - 1 - phase, which is
  simply the bits ``{e - 1, ~phase}``: the multiply degenerates to a conditional negation and
  the shifter does the work, so no second multiplier and no wide product mux are built.

Four pipeline stages (decode, multiply, shift, accumulate) keep the accumulator loop down to
the adder alone and every other stage short. A tile ends with ``last``: its final add is
drained (``drain``) straight from the adder while the flip-flops' synchronous reset clears
the accumulator, so the next tile's first product adds to zero with no ``first`` mux and no
bubble.

Sticky saturation (golden.gemm): the accumulator is ``acc_width + 1`` bits wide (at least 20)
and holds the exact partial sum while it fits ``acc_width`` bits. The first add that leaves
that range is kept and the accumulator then freezes (flip-flop enable) for the rest of the
tile: the extra bits hold it exactly and its sign is the overflow direction, because a product
(< 2^17 in magnitude) is too small to carry a partial sum across zero and out of range in one
step. The drain reports ``overflow`` and the direction ``negative``; the clamp to the rail is
:func:`saturate`, applied once per array column after the drain instead of in every PE.
Operand forwarding (systolic or broadcast) is the array's business: the PE is the arithmetic
and the accumulator only, so its area is the one to compare with an FP16 FMA PE.

``r4=False`` builds the INT4-only PE (registry ``pe_int4``): the forward GEMM's products alone,
INT4/UINT4 x INT4/UINT4, what the 4-bit PE would cost without radix-4 gradient support. Its
``mode`` port is :data:`hdl.modes.IntMode`, which has no R4 code and no phase, so an R4 operand
cannot be asked of it; the shifter and the shift stage go (the 9-bit product is added as it
leaves the multiplier), so it is three stages with LATENCY 2, and the accumulator is unchanged.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from golden.gemm import check_acc_width
from hdl.modes import IntMode, Mode

#: Width of the largest product, UINT4 x R4 = 15 * 2^13 < 2^17, as a signed number.
PRODUCT_WIDTH = 18
#: Cycles from a product's inputs (``a``, ``b``, ``mode``, ``en``, ``last``) to its add: the
#: drain of a tile whose last product entered in cycle t is valid in cycle t + LATENCY. The
#: full PE's; the INT4-only PE (``r4=False``) has no shift stage and takes one cycle less
#: (:attr:`ProcessingElement.LATENCY` gives either).
LATENCY = 3


def latency(r4: bool = True) -> int:
    """:data:`LATENCY` of the full PE, or one cycle less for the INT4-only PE (``r4=False``),
    which has no shift stage."""
    return LATENCY if r4 else LATENCY - 1


def drain_layout(acc_width: int) -> data.StructLayout:
    """A finished accumulator as it leaves the PE, before the clamp (:func:`saturate`).

    ``value`` is the exact sum when ``overflow`` is clear; otherwise only ``negative`` (the
    direction of the first partial sum that left the ``acc_width``-bit range) matters.
    """
    return data.StructLayout({"value": signed(acc_width), "overflow": 1, "negative": 1})


def saturate(drained, acc_width: int):
    """The tile result of a :func:`drain_layout` value: the sum, or the rail it overflowed to."""
    low = Const(-(2 ** (acc_width - 1)), signed(acc_width))
    high = Const(2 ** (acc_width - 1) - 1, signed(acc_width))
    return Mux(drained.overflow, Mux(drained.negative, low, high), drained.value)


def register_width(acc_width: int) -> int:
    """Bits of the accumulator register for an ``acc_width``-bit result.

    It must hold the first out-of-range partial sum and one more product added to it with the
    sign intact: |S| < 2^(w-1) + 2 * 2^17, so ``w + 1`` bits from w = 19 on and 20 below.
    """
    return max(acc_width + 1, 20)


class ProcessingElement(wiring.Component):
    """A four-stage 4-bit MAC with an exact ``acc_width``-bit result and sticky saturation.

    Parameters
    ----------
    acc_width : int
        Signed result width, 18..48 (golden.gemm.check_acc_width: the same rule as the golden
        model, so every width the RTL accepts has a golden reference).
    r4 : bool
        True (default): every GEMM mode, R4 operand B included. False: the INT4-only PE, the
        modes of :data:`hdl.modes.INT_GEMM_MODES` only (``mode`` is an
        :data:`hdl.modes.IntMode`, which cannot express R4), three stages, LATENCY 2.

    Attributes
    ----------
    a : In(4)
        Operand A code (INT4 or UINT4 per ``mode.a_format``).
    b : In(4)
        Operand B code (INT4, UINT4 or R4 per ``mode.b_format``; R4 uses ``mode.phase``).
    mode : In(:data:`hdl.modes.Mode`), or In(:data:`hdl.modes.IntMode`) when not ``r4``
        How to read ``a`` and ``b`` for this product.
    en : In(1)
        This cycle's operands are a product to accumulate (otherwise they are ignored).
    last : In(1)
        With ``en``: this product ends the tile. Its add is drained and the accumulator starts
        the next tile from zero, with no clear cycle: that is what lets tiles follow each other
        without a bubble.
    drain : Out(:func:`drain_layout`)
        The accumulator plus the product being added, unregistered (straight from the adder);
        a tile's result when ``done`` is set (:func:`saturate` gives the clamped value).
    done : Out(1)
        ``drain`` is a finished tile: the last product entered :attr:`LATENCY` cycles ago.
    LATENCY : int
        :func:`latency` of this PE (3; 2 for the INT4-only PE): a product whose ``en`` is
        sampled in cycle t is added in cycle t + ``LATENCY``; a tile's ``done`` rises then for
        its ``last`` product.
    """

    def __init__(self, acc_width: int = 32, r4: bool = True):
        self._acc_width = check_acc_width(acc_width)
        if not isinstance(r4, bool):
            raise TypeError(f"r4 must be True or False, not {r4!r}")
        self._r4 = r4
        super().__init__({
            "a": In(4),
            "b": In(4),
            "mode": In(Mode if r4 else IntMode),
            "en": In(1),
            "last": In(1),
            "drain": Out(drain_layout(self._acc_width)),
            "done": Out(1),
        })

    @property
    def acc_width(self) -> int:
        return self._acc_width

    @property
    def r4(self) -> bool:
        """The PE takes R4 operands (False: the INT4-only PE)."""
        return self._r4

    @property
    def LATENCY(self) -> int:
        """Cycles from a product's inputs to its add (and from a tile's last product to
        ``done``): :func:`latency` of this PE."""
        return latency(self._r4)

    def elaborate(self, platform):
        m = Module()
        w = self._acc_width
        rw = register_width(w)

        # Stage 1: decode, with operand isolation: A's register loads only for a nonzero B
        # code and B's only for a nonzero A code (or a zero B), so whenever one operand is zero
        # the other register may hold a stale value and the product is still a * b = 0. Code 0
        # is zero in every format. The point is placement: the enables combine the PE's row
        # and column, so synthesis cannot merge these registers into one per row or column
        # (whose outputs would cross the whole array into the multipliers); each PE keeps its
        # own, and the broadcast ends at a register.
        a = Cat(self.a, self.a[3] & ~self.mode.a_format.as_value()[0]).as_signed()
        fmt = self.mode.b_format.as_value()
        # Integer B: its value, sign-extended unless UINT4. R4 B: +1, -1 or 0 (e = 0, and the
        # 0b1000 "negative zero" code) -- the multiplier then only negates.
        int_m = Cat(self.b, self.b[3] & ~fmt[0]).as_signed()
        if self._r4:
            is_r4 = fmt[1]
            e = self.b[0:3]
            nonzero = e.any()
            r4_m = Mux(nonzero, Mux(self.b[3], -1, 1), 0)
            shift_1 = Signal(4)
        a_1 = Signal(signed(5))
        mult_1 = Signal(signed(5))
        valid_1 = Signal()
        last_1 = Signal()
        b_zero = self.b == 0
        with m.If(~b_zero):
            m.d.sync += a_1.eq(a)
        with m.If(self.a.any() | b_zero):
            if not self._r4:
                m.d.sync += mult_1.eq(int_m)
            else:
                m.d.sync += [
                    mult_1.eq(Mux(is_r4, r4_m, int_m)),
                    # 2e - 1 - phase = {e - 1, ~phase} for e >= 1; the shift is 0 on the
                    # integer path.
                    shift_1.eq(Mux(is_r4 & nonzero, Cat(~self.mode.phase, e - 1), 0)),
                ]
        m.d.sync += [valid_1.eq(self.en), last_1.eq(self.en & self.last)]

        # Stage 2: the 5 x 5 signed multiply.
        scaled = Signal(signed(9))
        valid_2 = Signal()
        last_2 = Signal()
        m.d.sync += scaled.eq(a_1 * mult_1)
        if self._r4:
            shift_2 = Signal(4)
            m.d.sync += shift_2.eq(shift_1)
        m.d.sync += [valid_2.eq(valid_1), last_2.eq(last_1)]

        if not self._r4:
            # INT4-only: no shift stage; the multiplier's register is the product to add.
            product, valid_3, last_3 = scaled, valid_2, last_2
        else:
            # Stage 3: the shift.
            product = Signal(signed(PRODUCT_WIDTH))
            valid_3 = Signal()
            last_3 = Signal()
            m.d.sync += [product.eq(scaled << shift_2), valid_3.eq(valid_2),
                         last_3.eq(last_2)]

        # Stage 4: accumulate. Out of range = the bits from w - 1 up are not all equal.
        acc = Signal(signed(rw))
        total = Signal(signed(rw))
        m.d.comb += total.eq(acc + product)
        frozen = acc[w - 1:].any() & ~acc[w - 1:].all()
        leaves = total[w - 1:].any() & ~total[w - 1:].all()
        with m.If(last_3):
            m.d.sync += acc.eq(0)
        with m.Elif(valid_3 & ~frozen):
            m.d.sync += acc.eq(total)
        m.d.comb += [
            self.drain.value.eq(total[0:w]),
            self.drain.overflow.eq(frozen | leaves),
            self.drain.negative.eq(total[rw - 1]),
            self.done.eq(last_3),
        ]
        return m


class Int4ProcessingElement(ProcessingElement):
    """The INT4-only PE, ``ProcessingElement(acc_width, r4=False)``, under a name of its own
    (registry ``pe_int4``): INT4/UINT4 x INT4/UINT4 products, no R4 operand path."""

    def __init__(self, acc_width: int = 32):
        super().__init__(acc_width, r4=False)
