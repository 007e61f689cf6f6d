"""The 4-bit multiply-accumulate processing element of DESIGN.md section 3.

One PE computes every product a 4-bit training step needs: INT4/UINT4 x INT4/UINT4 in the
forward GEMM and INT4/UINT4 x R4 in both backward GEMMs, and adds it exactly into a saturating
accumulator. The two kinds of product share one datapath:

    product = (a * m) << sh

- integer B: m is B's value (-8..15), sh = 0: a 5 x 5 signed multiply;
- R4 B:      m is -1, 0 or +1 (sign, or zero for e = 0) and sh = 2e - 1 - phase, which is
  simply the bits ``{e - 1, ~phase}``: the multiply degenerates to a conditional negation and
  the shifter does the work, so no second multiplier and no wide product mux are built.

The accumulator adds in ``acc_width + 1`` bits and clamps when the two top bits differ, which is
exactly golden.gemm's clamp after every add; the overflow flag is sticky until the next tile.
Operand forwarding (systolic or broadcast) is the array's business: the PE is the arithmetic
and the accumulator only, so its area is the one to compare with an FP16 FMA PE.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.gemm import check_acc_width
from hdl.modes import Mode

#: Width of the largest product, UINT4 x R4 = 15 * 2^13 < 2^17, as a signed number.
PRODUCT_WIDTH = 18


class ProcessingElement(wiring.Component):
    """A 4-bit MAC with an exact, saturating ``acc_width``-bit accumulator.

    Parameters
    ----------
    acc_width : int
        Signed accumulator width, 18..48 (golden.gemm.check_acc_width: the same rule as the
        golden model, so every width the RTL accepts has a golden reference).

    Attributes
    ----------
    a : In(4)
        Operand A code (INT4 or UINT4 per ``mode.a_format``).
    b : In(4)
        Operand B code (INT4, UINT4 or R4 per ``mode.b_format``; R4 uses ``mode.phase``).
    mode : In(:data:`hdl.modes.Mode`)
        How to read ``a`` and ``b`` for this product.
    en : In(1)
        Accumulate this cycle's product (otherwise the accumulator and flag hold).
    first : In(1)
        With ``en``: this product starts a new tile, so it replaces the accumulator (and clears
        the overflow flag) instead of adding to it. No separate clear cycle is needed, which is
        what lets tiles follow each other without a bubble.
    acc : Out(signed(acc_width))
        The accumulator, registered: the sum of the products accepted since the last ``first``,
        clamped to the signed range after every add.
    overflow : Out(1)
        Sticky: set once an add of this tile saturated.
    """

    def __init__(self, acc_width: int = 32):
        self._acc_width = check_acc_width(acc_width)
        super().__init__({
            "a": In(4),
            "b": In(4),
            "mode": In(Mode),
            "en": In(1),
            "first": In(1),
            "acc": Out(signed(self._acc_width)),
            "overflow": Out(1),
        })

    @property
    def acc_width(self) -> int:
        return self._acc_width

    def elaborate(self, platform):
        m = Module()
        w = self._acc_width

        a = Cat(self.a, self.a[3] & ~self.mode.a_format.as_value()[0]).as_signed()
        fmt = self.mode.b_format.as_value()
        is_r4 = fmt[1]
        e = self.b[0:3]
        nonzero = e.any()
        # Integer B: its value, sign-extended unless UINT4. R4 B: +1, -1 or 0 (e = 0, and the
        # 0b1000 "negative zero" code) -- the multiplier then only negates.
        int_m = Cat(self.b, self.b[3] & ~fmt[0]).as_signed()
        r4_m = Mux(nonzero, Mux(self.b[3], -1, 1), 0)
        mult = Signal(signed(5))
        m.d.comb += mult.eq(Mux(is_r4, r4_m, int_m))
        # 2e - 1 - phase = {e - 1, ~phase} for e >= 1; the shift is 0 on the integer path.
        shift = Signal(4)
        m.d.comb += shift.eq(Mux(is_r4 & nonzero, Cat(~self.mode.phase, e - 1), 0))
        scaled = Signal(signed(9))
        m.d.comb += scaled.eq(a * mult)
        product = Signal(signed(PRODUCT_WIDTH))
        m.d.comb += product.eq(scaled << shift)

        base = Mux(self.first, 0, self.acc)
        total = Signal(signed(w + 1))
        m.d.comb += total.eq(base + product)
        saturated = total[w] != total[w - 1]
        limit = Mux(total[w], Const(-(2 ** (w - 1)), signed(w)), Const(2 ** (w - 1) - 1, signed(w)))
        with m.If(self.en):
            m.d.sync += [
                self.acc.eq(Mux(saturated, limit, total[0:w])),
                self.overflow.eq((self.overflow & ~self.first) | saturated),
            ]
        return m
