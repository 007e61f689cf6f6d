"""An end-to-end backward GEMM tile: FP16 gradients -> R4 lanes -> shift MACs -> FP16.

This is the path that makes 4-bit training possible, in one piece: the gradient unit
quantizes one row of dY (``cols`` FP16 values) per clock into R4 codes, which become operand
B of the array (format R4, with the phase they were quantized in); operand A (the INT4
weights or UINT4 activations) streams in on ``i_a``; the array's exact accumulators drain row
by row through ``cols`` read-out converters into FP16. The result equals
``golden.gemm.readout(golden.gemm.gemm(A, r4_quantize(dY, ...), ...), exp_offset=-7 - g)``.
"""

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.gemm import READOUT_OFFSET_BITS
from hdl import controls
from hdl.array import OuterProductArray, a_layout
from hdl.gradient_unit import GradientUnit, grad_in_layout
from hdl.modes import BFormat
from hdl.params import ArrayShape
from hdl.readout import Fp16Round
from hdl.stream import Pipeline

__all__ = ["BackwardTile", "result_row_layout"]

#: One output element: the FP16 pattern, the read-out saturation flag and the array's sticky
#: accumulator saturation flag.
RESULT_LAYOUT = data.StructLayout({
    "value": unsigned(16),
    "overflow": unsigned(1),
    "acc_overflow": unsigned(1),
})


def result_row_layout(cols: int) -> data.StructLayout:
    """Payload of ``o_result``: row i of a tile's FP16 results; ``last`` on the tile's last row."""
    return data.StructLayout({"data": data.ArrayLayout(RESULT_LAYOUT, cols), "last": 1})


class BackwardTile(ArrayShape, wiring.Component):
    """GradientUnit feeding a OuterProductArray's operand B, with FP16 read-out of every row.

    Parameters
    ----------
    rows, cols : int
        Array size; the gradient unit has ``cols`` lanes, so it keeps operand B fed.
    acc_width : int
        Accumulator width, 18..48.

    Notes
    -----
    ``i_a`` is the array's operand-A stream (see :class:`hdl.array.OuterProductArray`), beat k of
    a tile pairs with beat k of ``i_grad`` (one dY row). Configuration inputs are those of
    :class:`hdl.gradient_unit.GradientUnit` plus ``exp_offset`` of the read-out (-7 - g for
    a tile quantized with scale exponent g), sampled when a result row leaves the array.

    Timing: a tile's first row is on ``o_result`` :attr:`LATENCY` (12) cycles after the
    handshake of its last ``i_grad`` row, when ``o_result`` is ready, the tile's ``i_a`` beats
    keep up with its ``i_grad`` rows and the array is not still draining the previous tile.
    """

    def __init__(self, rows: int = 4, cols: int = 4, acc_width: int = 32):
        self._array = OuterProductArray(rows, cols, acc_width)
        self._grad = GradientUnit(cols)
        self._rows, self._cols, self._acc_width = rows, cols, acc_width
        super().__init__({
            "i_a": In(stream.Signature(a_layout(rows))),
            "i_grad": In(stream.Signature(grad_in_layout(cols))),
            "o_result": Out(stream.Signature(result_row_layout(cols))),
            # The gradient unit's controls (hdl.controls), less ``amax``, and the read-out's.
            **controls.members(*controls.CONFIG),
            "exp_offset": In(signed(READOUT_OFFSET_BITS)),
            **controls.members(*controls.SATURATION, *controls.AMAX, exclude={"amax"}),
        })

    @property
    def LATENCY(self) -> int:
        """Cycles from the handshake of a tile's last ``i_grad`` row to the tile's first row
        on ``o_result``: the gradient unit's ``LATENCY`` to its codes on the array's ``i_b``,
        the array's ``LATENCY``, the read-out register (6 + 5 + 1 = 12)."""
        return self._grad.LATENCY + self._array.LATENCY + 1

    def elaborate(self, platform):
        m = Module()
        m.submodules.array = array = self._array
        m.submodules.grad = grad = self._grad

        wiring.connect(m, wiring.flipped(self.i_a), array.i_a)
        # The gradient stream and every control and status port the tile shares with the unit.
        controls.connect_ports(m, self, grad, ["i_grad", *controls.shared_ports(self, grad)])
        m.d.comb += [
            # R4 codes become operand B, carrying the phase they were quantized in.
            array.i_b.valid.eq(grad.o_codes.valid),
            grad.o_codes.ready.eq(array.i_b.ready),
            array.i_b.payload.format.eq(BFormat.R4),
            array.i_b.payload.phase.eq(grad.o_codes.payload.phase),
        ]
        for j in range(self._cols):
            m.d.comb += array.i_b.payload.data[j].eq(grad.o_codes.payload.lanes[j].code)

        # Read-out: one converter per column, one register stage (hdl.stream.Pipeline), a row
        # per clock.
        c = array.o_c
        row = Signal(data.ArrayLayout(RESULT_LAYOUT, self._cols), name="readout_row")
        for j in range(self._cols):
            rnd = Fp16Round(self._acc_width)
            m.submodules[f"readout_{j}"] = rnd
            m.d.comb += [
                rnd.acc.eq(c.payload.data[j].acc),
                rnd.exp_offset.eq(self.exp_offset),
                row[j].value.eq(rnd.result.value),
                row[j].overflow.eq(rnd.result.overflow),
                row[j].acc_overflow.eq(c.payload.data[j].overflow),
            ]
        pipe = Pipeline(m, "readout", c)
        pipe.stage("row", result_row_layout(self._cols), {"data": row, "last": c.payload.last})
        pipe.connect(self.o_result)
        return m
