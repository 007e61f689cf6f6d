"""The shells the floating-point MAC baselines share (docs/synth.md, "Area at equal
throughput"): a format module (hdl.fp16_fma, hdl.fp8_mac) writes its multiplier and product
adder and names them, with its format's facts, in a subclass of each class here.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.stream import accumulate_products

__all__ = ["FloatMacCore", "FloatMacPE"]


class FloatMacCore(wiring.Component):
    """Combinational ``result = PRODUCT_ADD(MULTIPLY(a, b), c)``, the two halves of a format's
    MAC chained, for verification. A subclass sets ``OPERAND_BITS``, ``ACC_BITS``,
    ``MULTIPLY`` and ``PRODUCT_ADD``; ports ``a``, ``b`` (operands), ``c`` (addend) and
    ``result``."""

    def __init__(self):
        super().__init__({"a": In(self.OPERAND_BITS), "b": In(self.OPERAND_BITS),
                          "c": In(self.ACC_BITS), "result": Out(self.ACC_BITS)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.multiply = multiply = self.MULTIPLY()
        m.submodules.add = add = self.PRODUCT_ADD()
        m.d.comb += [
            multiply.a.eq(self.a),
            multiply.b.eq(self.b),
            add.product.eq(multiply.product),
            add.c.eq(self.c),
            self.result.eq(add.result),
        ]
        return m


class FloatMacPE(wiring.Component):
    """The stream-fed floating-point MAC PEs (:class:`hdl.fp16_fma.Fp16FmaPE`,
    :class:`hdl.fp8_mac.Fp8MacPE`): :func:`hdl.stream.accumulate_products` around a format's multiplier
    and product adder, which a subclass names with its format's facts.

    A subclass sets ``BEAT_LAYOUT`` (``a``, ``b``, ``first``, ``last``), ``ACC_BITS`` (the
    accumulator's encoding width), ``MULTIPLY`` and ``PRODUCT_ADD`` (the component classes),
    ``PRODUCT_LAYOUT`` (the registered product) and ``START`` (the encoding of -0). Ports:
    ``i`` (``BEAT_LAYOUT`` beats) and ``o`` (the accumulator at each tile's end); ``LATENCY``
    2, from a ``last`` beat's handshake to ``o.valid``.
    """

    def __init__(self):
        super().__init__({"i": In(stream.Signature(self.BEAT_LAYOUT)),
                          "o": Out(stream.Signature(self.ACC_BITS))})

    @property
    def LATENCY(self) -> int:
        return 2

    def elaborate(self, platform):
        m = Module()
        m.submodules.multiply = multiply = self.MULTIPLY()
        m.submodules.add = add = self.PRODUCT_ADD()
        accumulate_products(m, self.i, self.o, multiply, add, self.PRODUCT_LAYOUT, self.START)
        return m
