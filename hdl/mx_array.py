"""The R x C arrays of block-scaled FP4 PEs: an (R x K) @ (K x C) MXFP4 or NVFP4 tile.

The dataflow of :mod:`hdl.array` (outer product: beat k of A is column k of the tile, beat k
of B row k, and PE(i, j) takes A[i, k] and B[k, j]) with a :class:`hdl.mx_pe.BlockWindowPE`
as the PE: each beat also carries the block scale of every row's (A) or column's (B) current
block, so a scale is shared by a row or a column of PEs like the codes. One array,
:class:`BlockOuterProductArray`, serves both formats; an :class:`ArrayFamily` names the PE and
its fields: :class:`MxOuterProductArray` (MXFP4, :class:`hdl.mx_pe.MxProcessingElement`) and
:class:`NvOuterProductArray` (NVFP4, :class:`hdl.nv_pe.NvProcessingElement`).

Who computes what. A PE needs its output's anchor, the largest block exponent over the
non-NaN blocks of row i of A and column j of B, on the first block's last beat: it cannot be
formed from the scales as they stream past. The host, which holds every scale of the tile
before sending it, computes the R x C anchors (:func:`sim.mx_array_payload.tile_anchors`,
:func:`sim.mx_array_payload.nv_tile_anchors`) and sends them on a third stream, one beat per
tile; each PE forms its blocks' shifts itself (docs/mx_array.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.checks import check_int_in_range
from golden.gemm_mx import FRAC_BITS
from golden.gemm_nv import FRAC_BITS as NV_FRAC_BITS
from hdl.mx_pe import MxProcessingElement, check_k_max, mx_result_layout, result_exponent
from hdl.nv_pe import NvProcessingElement, nv_result_exponent
from hdl.params import ArrayShape, check_positive_int
from hdl.stream import hold, shift_out

__all__ = ["a_layout", "b_layout", "anchor_layout", "c_layout", "ArrayFamily", "MXFP4",
           "NVFP4", "BlockOuterProductArray", "MxOuterProductArray", "NvOuterProductArray",
           "LATENCY", "NV_LATENCY"]


@dataclass(frozen=True)
class ArrayFamily:
    """A block-scaled FP4 format as the array sees it: its PE (a
    :class:`hdl.mx_pe.BlockWindowPE`), the default ``frac_bits`` and the exponent of a
    result's ``acc`` from its anchor; the rest is read off the PE."""

    name: str
    pe: type
    frac_bits: int
    result_exponent: Callable[[int, int], int]

    @property
    def block(self) -> int:
        """Elements per block: 32 (MXFP4), 16 (NVFP4)."""
        return self.pe.BLOCK

    @property
    def scale_bits(self) -> int:
        """Width of a block scale code (E8M0, E4M3: 8)."""
        return self.pe.BEAT_LAYOUT["scale_a"].shape.width

    @property
    def anchor_bits(self) -> int:
        """Width of an output's anchor: 9 (MXFP4), 5 (NVFP4)."""
        return self.pe.BEAT_LAYOUT["anchor"].shape.width

    @property
    def latency(self) -> int:
        """The array's ``LATENCY``: the input register, the PE's and the result chain's load."""
        return 1 + self.pe.PIPELINE_LATENCY + 1

    def acc_width(self, k_max: int, frac_bits: int) -> int:
        """The PE's (and so ``o_c``'s) accumulator width."""
        return self.pe.acc_width_of(k_max, frac_bits)


MXFP4 = ArrayFamily("MXFP4", MxProcessingElement, FRAC_BITS, result_exponent)
NVFP4 = ArrayFamily("NVFP4", NvProcessingElement, NV_FRAC_BITS, nv_result_exponent)

#: Cycles from the ``i_a`` handshake of a tile's last beat to its first row on ``o_c``: the
#: input register, the PE's :data:`hdl.mx_pe.LATENCY` (MXFP4: 5, NVFP4: 7) and the result
#: chain's load.
LATENCY = MXFP4.latency
NV_LATENCY = NVFP4.latency


def a_layout(rows: int, scale_bits: int = 8) -> data.StructLayout:
    """Payload of ``i_a``: column k of an A tile, ``codes[i] = A[i, k]``, ``scales[i]`` the
    scale (E8M0, E4M3) of row i's block holding k; ``block_last`` on each block's last beat
    (every 32nd, 16th), ``last`` on the tile's final beat (the PE's framing,
    :data:`hdl.mx_pe.MX_BEAT_LAYOUT`)."""
    return data.StructLayout({
        "codes": data.ArrayLayout(4, rows),
        "scales": data.ArrayLayout(scale_bits, rows),
        "block_last": 1,
        "last": 1,
    })


def b_layout(cols: int, scale_bits: int = 8) -> data.StructLayout:
    """Payload of ``i_b``: row k of a B tile, ``codes[j] = B[k, j]``, ``scales[j]`` the scale
    of column j's block holding k."""
    return data.StructLayout({
        "codes": data.ArrayLayout(4, cols),
        "scales": data.ArrayLayout(scale_bits, cols),
    })


def anchor_layout(rows: int, cols: int, anchor_bits: int = 9) -> data.ArrayLayout:
    """Payload of ``i_anchor``: ``[i][j]`` the anchor of output (i, j), the PE beat's
    ``anchor`` (9 bits MXFP4, 5 NVFP4)."""
    return data.ArrayLayout(data.ArrayLayout(anchor_bits, cols), rows)


def c_layout(cols: int, acc_width: int) -> data.StructLayout:
    """Payload of ``o_c``: row i of a finished tile, ``data[j]`` the PE result of C[i, j]
    (:func:`hdl.mx_pe.mx_result_layout`); ``last`` on row R-1."""
    return data.StructLayout({
        "data": data.ArrayLayout(mx_result_layout(acc_width), cols),
        "last": 1,
    })


class BlockOuterProductArray(ArrayShape, wiring.Component):
    """R x C array of ``FAMILY.pe`` computing a block-scaled FP4 tile; the parameters, ports
    and timing are :class:`MxOuterProductArray`'s with that family's PE, block size, anchor
    width and latency (:class:`ArrayFamily`). A subclass sets ``FAMILY`` and the defaults."""

    FAMILY: ArrayFamily

    def __init__(self, rows: int, cols: int, k_max: int, frac_bits: int):
        family = getattr(self, "FAMILY", None)
        if not isinstance(family, ArrayFamily):
            raise TypeError("BlockOuterProductArray is built through a subclass that sets "
                            "FAMILY: MxOuterProductArray or NvOuterProductArray")
        self._rows = check_positive_int("rows", rows)
        self._cols = check_positive_int("cols", cols)
        self._k_max = check_k_max(k_max, family.block)
        self._frac_bits = check_int_in_range("frac_bits", frac_bits, 0,
                                             family.pe.FRAC_BITS_MAX)
        self._acc_width = family.acc_width(self._k_max, self._frac_bits)
        super().__init__({
            "i_a": In(stream.Signature(a_layout(self._rows, family.scale_bits))),
            "i_b": In(stream.Signature(b_layout(self._cols, family.scale_bits))),
            "i_anchor": In(stream.Signature(anchor_layout(self._rows, self._cols,
                                                          family.anchor_bits))),
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
        return self.FAMILY.latency

    def elaborate(self, platform):
        m = Module()
        rows, cols = self._rows, self._cols

        a_reg, a_full = Signal(self.i_a.payload.shape()), Signal()
        b_reg, b_full = Signal(self.i_b.payload.shape()), Signal()
        anchor_reg, anchor_full = Signal(self.i_anchor.payload.shape()), Signal()
        # Result chain: row 0 at the head; `pending` rows still to send.
        chain = [Signal(data.ArrayLayout(mx_result_layout(self._acc_width), cols),
                        name=f"res_{i}") for i in range(rows)]
        pending = Signal(range(rows + 1))
        out_valid, out_last = Signal(), Signal()
        fire = out_valid & self.o_c.ready

        pes = [[self.FAMILY.pe(self._k_max, self._frac_bits) for _ in range(cols)]
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


class MxOuterProductArray(BlockOuterProductArray):
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

    FAMILY = MXFP4

    def __init__(self, rows: int = 4, cols: int = 4, k_max: int = 4096,
                 frac_bits: int = FRAC_BITS):
        super().__init__(rows, cols, k_max, frac_bits)


class NvOuterProductArray(BlockOuterProductArray):
    """R x C array of :class:`hdl.nv_pe.NvProcessingElement` computing an NVFP4 tile.

    A tile is (R x K) codes of A with their (R x K/16) E4M3 block scales times (K x C) codes
    of B with their (K/16 x C) scales; output (i, j) is exactly ``golden.gemm_nv.gemm_nvfp4``
    of the tile at (i, j): ``acc``, ``inexact`` and ``nan``, worth ``acc * 2^exp`` with
    ``exp = hdl.nv_pe.nv_result_exponent(anchor[i][j], frac_bits)``, times the two FP32 tensor
    scales, which stay with the host.

    Parameters, ports and timing are :class:`MxOuterProductArray`'s with NVFP4 in place of
    MXFP4: ``k_max`` a positive multiple of 16 (default 4096, a 56-bit ``acc``),
    ``frac_bits`` 0..33 (default 28: exact); ``i_a``/``i_b`` carry E4M3 scales,
    ``block_last`` on every 16th beat; ``i_anchor`` R x C 5-bit anchors, ``max_j (max(ea_j, 1)
    + max(eb_j, 1))`` over the non-NaN blocks of each output (E4M3 exponent fields;
    :func:`sim.mx_array_payload.nv_tile_anchors`). :data:`NV_LATENCY` (9) cycles from the last
    ``i_a`` handshake of a tile to its first row, when nothing waits.
    """

    FAMILY = NVFP4

    def __init__(self, rows: int = 4, cols: int = 4, k_max: int = 4096,
                 frac_bits: int = NV_FRAC_BITS):
        super().__init__(rows, cols, k_max, frac_bits)
