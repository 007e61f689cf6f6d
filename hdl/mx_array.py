"""The R x C array of MXFP4 PEs: an (R x K) @ (K x C) MXFP4 tile, operands broadcast.

The dataflow of :mod:`hdl.array` (outer product: beat k of A is column k of the tile, beat k
of B row k, and PE(i, j) takes A[i, k] and B[k, j]) with :class:`hdl.mx_pe.MxProcessingElement`
as the PE: each beat also carries the E8M0 scale of every row's (A) or column's (B) current
block, so a scale is shared by a row or a column of PEs like the codes.

Who computes what. A PE needs its output's anchor, ``max_j (scale_a + scale_b)`` over the
non-NaN blocks of row i of A and column j of B, on the first block's last beat: it cannot be
formed from the scales as they stream past. The host, which holds every scale of the tile
before sending it, computes the R x C anchors (:func:`sim.mx_array_payload.tile_anchors`) and
sends them on a third stream, one beat per tile; each PE forms its blocks' shifts itself
(docs/mx_array.md).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.checks import check_int_in_range
from golden.gemm_mx import FRAC_BITS, FRAC_BITS_MAX, mx_acc_width
from hdl.mx_pe import LATENCY as PE_LATENCY
from hdl.mx_pe import MxProcessingElement, check_k_max, mx_result_layout
from hdl.params import ArrayShape, check_positive_int
from hdl.stream import hold, shift_out

__all__ = ["a_layout", "b_layout", "anchor_layout", "c_layout", "MxOuterProductArray",
           "LATENCY"]

#: Cycles from the ``i_a`` handshake of a tile's last beat to its first row on ``o_c``: the
#: input register, the PE's :data:`hdl.mx_pe.LATENCY` and the result chain's load.
LATENCY = 1 + PE_LATENCY + 1


def a_layout(rows: int) -> data.StructLayout:
    """Payload of ``i_a``: column k of an A tile, ``codes[i] = A[i, k]``, ``scales[i]`` the
    E8M0 scale of row i's block holding k; ``block_last`` on every 32nd beat, ``last`` on the
    tile's final beat (the PE's framing, :data:`hdl.mx_pe.MX_BEAT_LAYOUT`)."""
    return data.StructLayout({
        "codes": data.ArrayLayout(4, rows),
        "scales": data.ArrayLayout(8, rows),
        "block_last": 1,
        "last": 1,
    })


def b_layout(cols: int) -> data.StructLayout:
    """Payload of ``i_b``: row k of a B tile, ``codes[j] = B[k, j]``, ``scales[j]`` the E8M0
    scale of column j's block holding k."""
    return data.StructLayout({
        "codes": data.ArrayLayout(4, cols),
        "scales": data.ArrayLayout(8, cols),
    })


def anchor_layout(rows: int, cols: int) -> data.ArrayLayout:
    """Payload of ``i_anchor``: ``[i][j]`` the anchor of output (i, j), 9 bits
    (:data:`hdl.mx_pe.MX_BEAT_LAYOUT`'s ``anchor``)."""
    return data.ArrayLayout(data.ArrayLayout(9, cols), rows)


def c_layout(cols: int, acc_width: int) -> data.StructLayout:
    """Payload of ``o_c``: row i of a finished tile, ``data[j]`` the PE result of C[i, j]
    (:func:`hdl.mx_pe.mx_result_layout`); ``last`` on row R-1."""
    return data.StructLayout({
        "data": data.ArrayLayout(mx_result_layout(acc_width), cols),
        "last": 1,
    })


class MxOuterProductArray(ArrayShape, wiring.Component):
    """R x C array of :class:`hdl.mx_pe.MxProcessingElement` computing an MXFP4 tile.

    A tile is (R x K) codes of A with their (R x K/32) block scales times (K x C) codes of B
    with their (K/32 x C) scales; output (i, j) is exactly ``golden.gemm_mx.gemm_mxfp4`` of
    the tile at (i, j): ``acc``, ``inexact`` and ``nan``, worth ``acc * 2^exp`` with ``exp =
    hdl.mx_pe.result_exponent(anchor[i][j], frac_bits)`` (the host sent that anchor).

    Parameters
    ----------
    rows, cols : int
        Array size R x C (positive integers).
    k_max : int
        Longest K, a positive multiple of 32 (:class:`hdl.mx_pe.MxProcessingElement`).
    frac_bits : int
        Window bits below the anchor block's unit (:class:`hdl.mx_pe.MxProcessingElement`).

    Attributes
    ----------
    i_a : In(stream.Signature(a_layout(rows)))
        Beat k of the tile: A's codes and scales, the framing (``block_last``, ``last``).
    i_b : In(stream.Signature(b_layout(cols)))
        Beat k of the tile: B's codes and scales.
    i_anchor : In(stream.Signature(anchor_layout(rows, cols)))
        One beat per tile: the R x C anchors, ``max_j (scale_a + scale_b)`` over the non-NaN
        blocks of each output (any value if all its blocks are NaN).
    o_c : Out(stream.Signature(c_layout(cols, acc_width)))
        R beats per tile, row 0 first, ``last`` on row R-1.

    Notes
    -----
    Beat k of ``i_a`` is paired with beat k of ``i_b`` and with the tile's ``i_anchor`` beat;
    each stream has a one-beat register, so a producer may run one beat ahead, and every
    ``ready`` is a function of registers. The well-formed tile and the answer to any other
    stream are the PE's (docs/mx_pe.md): whole blocks of 32 beats, ``block_last`` on every
    32nd, at most ``k_max`` beats, anchors no lower than any non-NaN block's scale sum;
    scales are read on a block's last beat only.

    All PEs take the same beat in the same cycle and have their results read in the same
    cycle, so they run in lockstep. A finished tile moves from the PEs' output registers into
    a shift chain when that is empty and drains from it while the next tile accumulates; a
    tile costs ``max(K, R + 1)`` cycles in steady state. :data:`LATENCY` (7) cycles from the
    last ``i_a`` handshake of a tile to its first row, when nothing waits.
    """

    def __init__(self, rows: int = 4, cols: int = 4, k_max: int = 4096,
                 frac_bits: int = FRAC_BITS):
        self._rows = check_positive_int("rows", rows)
        self._cols = check_positive_int("cols", cols)
        self._k_max = check_k_max(k_max)
        self._frac_bits = check_int_in_range("frac_bits", frac_bits, 0, FRAC_BITS_MAX)
        self._acc_width = mx_acc_width(self._k_max, self._frac_bits)
        super().__init__({
            "i_a": In(stream.Signature(a_layout(self._rows))),
            "i_b": In(stream.Signature(b_layout(self._cols))),
            "i_anchor": In(stream.Signature(anchor_layout(self._rows, self._cols))),
            "o_c": Out(stream.Signature(c_layout(self._cols, self._acc_width))),
        })

    @property
    def k_max(self) -> int:
        return self._k_max

    @property
    def frac_bits(self) -> int:
        return self._frac_bits

    @property
    def LATENCY(self) -> int:
        return LATENCY

    def elaborate(self, platform):
        m = Module()
        rows, cols = self._rows, self._cols

        a_reg, a_full = Signal(a_layout(rows)), Signal()
        b_reg, b_full = Signal(b_layout(cols)), Signal()
        anchor_reg, anchor_full = Signal(anchor_layout(rows, cols)), Signal()
        # Result chain: row 0 at the head; `pending` rows still to send.
        chain = [Signal(data.ArrayLayout(mx_result_layout(self._acc_width), cols),
                        name=f"res_{i}") for i in range(rows)]
        pending = Signal(range(rows + 1))
        out_valid, out_last = Signal(), Signal()
        fire = out_valid & self.o_c.ready

        pes = [[MxProcessingElement(self._k_max, self._frac_bits) for _ in range(cols)]
               for _ in range(rows)]
        for i in range(rows):
            for j in range(cols):
                m.submodules[f"pe_{i}_{j}"] = pes[i][j]
        # The PEs run in lockstep: PE (0, 0) speaks for all of them.
        head = pes[0][0]
        beat_valid = a_full & b_full & anchor_full
        issue = beat_valid & head.i.ready
        capture = head.o.valid & ~out_valid

        hold(m, self.i_a, a_reg, a_full, issue)
        hold(m, self.i_b, b_reg, b_full, issue)
        hold(m, self.i_anchor, anchor_reg, anchor_full, issue & a_reg.last)

        for i in range(rows):
            for j in range(cols):
                pe = pes[i][j]
                m.d.comb += [
                    pe.i.valid.eq(beat_valid),
                    pe.i.payload.a.eq(a_reg.codes[i]),
                    pe.i.payload.b.eq(b_reg.codes[j]),
                    pe.i.payload.scale_a.eq(a_reg.scales[i]),
                    pe.i.payload.scale_b.eq(b_reg.scales[j]),
                    pe.i.payload.anchor.eq(anchor_reg[i][j]),
                    pe.i.payload.block_last.eq(a_reg.block_last),
                    pe.i.payload.last.eq(a_reg.last),
                    pe.o.ready.eq(~out_valid),
                ]
                with m.If(capture):
                    m.d.sync += chain[i][j].eq(pe.o.payload)

        m.d.comb += [
            self.o_c.valid.eq(out_valid),
            self.o_c.payload.last.eq(out_last),
            self.o_c.payload.data.eq(chain[0]),
        ]
        shift_out(m, chain, pending, out_valid, out_last, load=capture, fire=fire)
        return m
