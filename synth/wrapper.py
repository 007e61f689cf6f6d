"""The I/O wrapper every design is synthesised and placed in.

Why a wrapper. An 8x8 array has more ports than the packages have pins, and pins would put
I/O delays into the Fmax. The wrapper feeds *every* design input from a shift register
(``din``) and captures every output into a parallel-load shift register (``load``, ``dout``),
so each input comes from a flip-flop and each output goes to one through one 2:1 mux LUT:
the measured Fmax is the design's own register-to-register speed (plus, for a combinational
input-to-output path, one LUT), never an I/O pad.
"""

from amaranth.hdl import Cat, Module, Mux, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["IoWrapper"]


class IoWrapper(wiring.Component):
    """Serial-in, parallel-load serial-out shell around a design: three pins whatever its size.

    Every design input is driven from a flip-flop of the ``din`` shift register, every output
    is captured by a flip-flop of the ``dout`` shift register, so place-and-route sees the
    design's register-to-register paths rather than pads, and all logic stays observable.
    """

    din: In(1)
    load: In(1)
    dout: Out(1)

    def __init__(self, design: wiring.Component):
        self._design = design
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self._design
        inputs, outputs = [], []
        for _, member, value in dut.signature.flatten(dut):
            (inputs if member.flow == In else outputs).append(Value.cast(value))
        shift_in = Signal(max(sum(len(v) for v in inputs), 1))
        m.d.sync += shift_in.eq(Cat(self.din, shift_in[:-1]))
        offset = 0
        for value in inputs:
            m.d.comb += value.eq(shift_in[offset:offset + len(value)])
            offset += len(value)
        captured = Cat(*outputs)
        shift_out = Signal(len(captured))
        m.d.sync += shift_out.eq(Mux(self.load, captured, Cat(0, shift_out[:-1])))
        m.d.comb += self.dout.eq(shift_out[-1])
        return m
