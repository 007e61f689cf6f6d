"""The R x C output-stationary MAC array that runs all three GEMMs of a 4-bit training step.

Dataflow: output-stationary with row/column *broadcast* (an outer-product array). Every cycle
the array takes one column of an A tile (R codes) and one row of a B tile (C codes) and every
PE(i, j) adds A[i, k] * B[k, j] to its own accumulator. Compared with a skewed systolic array
this removes the R(R-1)/2 + C(C-1)/2 skew registers and the 8-bit operand forwarding
registers in every PE, all PEs finish a tile in the same cycle, so the result drain is a
plain shift chain that runs while the next tile accumulates, and there is no fill or drain
bubble between tiles. The price is fan-out (one A code drives C PEs, one B code R PEs): the
broadcast ends at each PE's own decode registers (hdl.pe), so a route across the array is
never followed by a multiplier in the same cycle; docs/array.md and docs/synth.md have the
figures.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.gemm import check_acc_width
from hdl.modes import AFormat, BFormat
from hdl.params import ArrayShape, check_positive_int
from hdl.pe import LATENCY as PE_LATENCY
from hdl.pe import ProcessingElement, drain_layout, saturate
from hdl.stream import hold, shift_out


def a_layout(rows: int) -> data.StructLayout:
    """Payload of ``i_a``: column k of an A tile, ``data[i] = A[i, k]``.

    ``format`` says how to read the codes; ``last`` marks the final k of a tile (the next beat
    starts a new tile).
    """
    return data.StructLayout({
        "data": data.ArrayLayout(4, rows),
        "format": AFormat,
        "last": 1,
    })


def b_layout(cols: int) -> data.StructLayout:
    """Payload of ``i_b``: row k of a B tile, ``data[j] = B[k, j]``, with its format and phase.

    ``phase`` is the TPR phase of R4 codes and is ignored for integer formats.
    """
    return data.StructLayout({
        "data": data.ArrayLayout(4, cols),
        "format": BFormat,
        "phase": 1,
    })


def result_layout(acc_width: int) -> data.StructLayout:
    """One accumulator as drained: its value and its sticky saturation flag."""
    return data.StructLayout({"acc": signed(acc_width), "overflow": 1})


def c_layout(cols: int, acc_width: int) -> data.StructLayout:
    """Payload of ``o_c``: row i of a finished tile, ``data[j] = C[i, j]``; ``last`` on row R-1."""
    return data.StructLayout({
        "data": data.ArrayLayout(result_layout(acc_width), cols),
        "last": 1,
    })


class OuterProductArray(ArrayShape, wiring.Component):
    """R x C array of :class:`hdl.pe.ProcessingElement` computing ``C = A @ B`` tile by tile.

    A tile is an (R x K) block of A times a (K x C) block of B; its result is exactly
    ``golden.gemm.gemm(A, B, a_format=..., b_format=..., phase=..., acc_width=acc_width,
    flags=True)``. K is any length >= 1 (no counter; ``i_a.payload.last`` ends the tile).

    Parameters
    ----------
    rows, cols : int
        Array size R x C (positive integers).
    acc_width : int
        Signed accumulator width, 18..48 (golden.gemm.check_acc_width).

    Attributes
    ----------
    i_a : In(stream.Signature(a_layout(rows)))
        Beat k: ``data[i] = A[i, k]``, ``format`` (:class:`hdl.modes.AFormat`), ``last``.
    i_b : In(stream.Signature(b_layout(cols)))
        Beat k: ``data[j] = B[k, j]``, ``format`` (:class:`hdl.modes.BFormat`), ``phase``.
    o_c : Out(stream.Signature(c_layout(cols, acc_width)))
        R beats per tile, row 0 first: ``data[j].acc = C[i, j]``, ``data[j].overflow``;
        ``last`` on row R-1.

    Notes
    -----
    The k-th beat of ``i_a`` is paired with the k-th beat of ``i_b``; the two streams are
    accepted independently (each has a one-beat input register), so either producer may run
    ahead by one beat and neither ``ready`` depends on any ``valid``: both are functions of
    registers only. The mode fields travel with the operands and apply to the product they
    arrive with, so a tile's mode is whatever its beats carry: keep them constant over a tile
    to match golden.gemm. One MAC per PE per cycle while both streams are valid.

    The PEs are pipelined (:data:`hdl.pe.LATENCY` = 3 cycles from operands to the add). A
    tile's last add is drained straight into the result chain while the accumulators clear,
    so consecutive tiles follow each other without a bubble; the chain must then be empty,
    so a tile's last beat waits in the input register while the previous tile still drains
    or is in flight. A tile costs ``max(K, rows + hdl.pe.LATENCY + 1)`` cycles in steady
    state (``max(K, rows + 4)``): the drain of tile t (R beats) overlaps tile t+1 and stalls
    the inputs only for short K or under ``o_c`` backpressure. The first row of a tile
    appears on ``o_c`` :attr:`LATENCY` (5) cycles after its last beat was accepted, plus the
    cycles that beat waited in the input register for the previous tile's drain (none from
    K = R + 4 on). The saturation clamp (sticky saturation, golden.gemm) is applied once per
    column, on ``o_c``.
    """

    def __init__(self, rows: int = 4, cols: int = 4, acc_width: int = 32):
        self._rows = check_positive_int("rows", rows)
        self._cols = check_positive_int("cols", cols)
        self._acc_width = check_acc_width(acc_width)
        super().__init__({
            "i_a": In(stream.Signature(a_layout(self._rows))),
            "i_b": In(stream.Signature(b_layout(self._cols))),
            "o_c": Out(stream.Signature(c_layout(self._cols, self._acc_width))),
        })

    @property
    def LATENCY(self) -> int:
        """Cycles from the handshake of a tile's last beat (the later of its ``i_a`` and
        ``i_b`` beats) to the tile's first row on ``o_c``, when that beat does not wait for
        the previous tile's drain: the input register, the PE's :data:`hdl.pe.LATENCY` and
        the result chain's load (5)."""
        return 1 + PE_LATENCY + 1

    def elaborate(self, platform):
        m = Module()
        rows, cols = self._rows, self._cols

        # Input registers: one beat of each stream, broadcast to a PE row / column.
        a_reg = Signal(a_layout(rows))
        a_full = Signal()
        b_reg = Signal(b_layout(cols))
        b_full = Signal()
        # A tile's last product is in PE stage 1 / 2 / 3 (the drain is in stage 3's cycle).
        end_1 = Signal()
        end_2 = Signal()
        end_3 = Signal()
        # Result shift chain: row 0 at the head; `pending` rows still to be sent, and the same
        # as registered flags (valid: pending != 0, last_row: pending == 1).
        chain = [Signal(data.ArrayLayout(drain_layout(self._acc_width), cols), name=f"res_{i}")
                 for i in range(rows)]
        pending = Signal(range(rows + 1))
        out_valid = Signal()
        out_last = Signal()
        fire = out_valid & self.o_c.ready

        # A tile's last product enters the PEs only when its drain will find the chain empty:
        # nothing refills the chain in between, so a chain empty now stays empty till then.
        # `busy` (chain not empty, or a tile end in flight) is registered, computed from the
        # next state, so that `issue` and `ready` are one LUT from registers.
        busy = Signal()
        issue = a_full & b_full & ~(a_reg.last & busy)
        m.d.sync += busy.eq(end_3 | end_2 | end_1 | (issue & a_reg.last)
                            | (out_valid & ~(fire & out_last)))
        hold(m, self.i_a, a_reg, a_full, issue)
        hold(m, self.i_b, b_reg, b_full, issue)
        m.d.sync += [end_1.eq(issue & a_reg.last), end_2.eq(end_1), end_3.eq(end_2)]

        for i in range(rows):
            for j in range(cols):
                pe = ProcessingElement(self._acc_width)
                m.submodules[f"pe_{i}_{j}"] = pe
                m.d.comb += [
                    pe.a.eq(a_reg.data[i]),
                    pe.b.eq(b_reg.data[j]),
                    pe.mode.a_format.eq(a_reg.format),
                    pe.mode.b_format.eq(b_reg.format),
                    pe.mode.phase.eq(b_reg.phase),
                    pe.en.eq(issue),
                    pe.last.eq(a_reg.last),
                ]
                with m.If(end_3):
                    m.d.sync += chain[i][j].eq(pe.drain)

        m.d.comb += [
            self.o_c.valid.eq(out_valid),
            self.o_c.payload.last.eq(out_last),
        ]
        for j in range(cols):
            m.d.comb += [
                self.o_c.payload.data[j].acc.eq(saturate(chain[0][j], self._acc_width)),
                self.o_c.payload.data[j].overflow.eq(chain[0][j].overflow),
            ]
        shift_out(m, chain, pending, out_valid, out_last, load=end_3, fire=fire)
        return m


#: The array's earlier name (it is not systolic: operands are broadcast, docs/array.md); kept
#: for one release so that existing scripts keep working.
SystolicArray = OuterProductArray
