"""The R x C output-stationary MAC array that runs all three GEMMs of a 4-bit training step.

Dataflow: output-stationary with row/column *broadcast* (an outer-product array). Every cycle
the array takes one column of an A tile (R codes) and one row of a B tile (C codes) and every
PE(i, j) adds A[i, k] * B[k, j] to its own accumulator. Compared with a skewed systolic array
this removes the R(R-1)/2 + C(C-1)/2 skew registers and the 8-bit operand forwarding
registers in every PE, all PEs finish a tile in the same cycle, so the result drain is a
plain shift chain that runs while the next tile accumulates, and there is no fill or drain
bubble between tiles. The price is fan-out (one A code drives C PEs, one B code R PEs), which
is harmless at the 2x2..16x16 sizes fourbit puts on iCE40/ECP5 and is what limits scaling
far beyond; docs/array.md has the figures.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.gemm import check_acc_width
from hdl.modes import AFormat, BFormat
from hdl.pe import ProcessingElement


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


def _check_size(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TypeError(f"{name} must be a positive integer, not {value!r}")
    return value


class SystolicArray(wiring.Component):
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
    to match golden.gemm. One MAC per PE per cycle while both streams are valid. A tile costs
    ``max(K, rows + 1)`` cycles in steady state: the drain of tile t (R beats) overlaps tile
    t+1 and stalls the inputs only when K <= R or ``o_c`` applies backpressure. The first row
    of a tile appears on ``o_c`` 3 cycles after its last beat was accepted.
    """

    def __init__(self, rows: int = 4, cols: int = 4, acc_width: int = 32):
        self._rows = _check_size("rows", rows)
        self._cols = _check_size("cols", cols)
        self._acc_width = check_acc_width(acc_width)
        super().__init__({
            "i_a": In(stream.Signature(a_layout(self._rows))),
            "i_b": In(stream.Signature(b_layout(self._cols))),
            "o_c": Out(stream.Signature(c_layout(self._cols, self._acc_width))),
        })

    @property
    def rows(self) -> int:
        return self._rows

    @property
    def cols(self) -> int:
        return self._cols

    @property
    def acc_width(self) -> int:
        return self._acc_width

    def elaborate(self, platform):
        m = Module()
        rows, cols = self._rows, self._cols

        # Input registers: one beat of each stream, broadcast to a PE row / column.
        a_reg = Signal(a_layout(rows))
        a_full = Signal()
        b_reg = Signal(b_layout(cols))
        b_full = Signal()
        # Tile bookkeeping: the next product starts a tile; a tile's last product was added.
        first = Signal(init=1)
        done = Signal()
        # Result shift chain: row 0 at the head; `pending` rows still to be sent.
        chain = [Signal(data.ArrayLayout(result_layout(self._acc_width), cols), name=f"res_{i}")
                 for i in range(rows)]
        pending = Signal(range(rows + 1))

        # A finished tile waits in its accumulators until the chain is free to take it.
        stall = done & (pending != 0)
        advance = a_full & b_full & ~stall
        m.d.comb += [
            self.i_a.ready.eq(~a_full | advance),
            self.i_b.ready.eq(~b_full | advance),
        ]
        with m.If(self.i_a.valid & self.i_a.ready):
            m.d.sync += [a_reg.eq(self.i_a.payload), a_full.eq(1)]
        with m.Elif(advance):
            m.d.sync += a_full.eq(0)
        with m.If(self.i_b.valid & self.i_b.ready):
            m.d.sync += [b_reg.eq(self.i_b.payload), b_full.eq(1)]
        with m.Elif(advance):
            m.d.sync += b_full.eq(0)
        with m.If(advance):
            m.d.sync += first.eq(a_reg.last)
        with m.If(~stall):
            m.d.sync += done.eq(advance & a_reg.last)

        capture = done & ~stall
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
                    pe.en.eq(advance),
                    pe.first.eq(first),
                ]
                with m.If(capture):
                    m.d.sync += [
                        chain[i][j].acc.eq(pe.acc),
                        chain[i][j].overflow.eq(pe.overflow),
                    ]

        m.d.comb += [
            self.o_c.valid.eq(pending != 0),
            self.o_c.payload.data.eq(chain[0]),
            self.o_c.payload.last.eq(pending == 1),
        ]
        with m.If(capture):
            m.d.sync += pending.eq(rows)
        with m.Elif(self.o_c.valid & self.o_c.ready):
            m.d.sync += pending.eq(pending - 1)
            m.d.sync += [chain[i].eq(chain[i + 1]) for i in range(rows - 1)]
        return m
