"""Formal harnesses of :class:`hdl.array.SystolicArray` (2 x 2, ``acc_width`` 18).

The array has two input streams and one output stream, so its stream properties are stated
with counts on all three ports (all wrapping, compared modulo 2^COUNT_BITS):

- ``transfer``: beats accepted on ``i_a`` and on ``i_b`` never differ by more than one (the
  k-th beats pair up); rows owed (R per accepted ``i_a`` beat with ``last``, minus rows
  delivered on ``o_c``) stay within 0..2R (one tile draining, one waiting in the input
  register): a lost row or tile makes the count grow past 2R, a duplicated one below 0; and
  ``o_c.last`` is set on exactly every R-th delivered row;
- ``ready``: :class:`verif.formal.props.ReadyMiter` on ``i_a`` and ``i_b`` together;
- ``stable``: :func:`verif.formal.props.payload_stable` on ``o_c``;
- ``reset``: after a reset ``o_c.valid`` is low and both ``ready`` are high, and the
  ``transfer`` relations hold with the counts restarted (no row of a tile from before the
  reset is delivered after it).
"""

from __future__ import annotations

from amaranth.hdl import Assert, Elaboratable, Module, Mux, Signal

from verif.formal.props import (ReadyMiter, after_reset, count, drive_free, fires,
                                payload_stable)
from verif.formal.sby import Mutant, Proof

__all__ = ["PROOFS"]

ROWS, COLS, ACC_WIDTH = 2, 2, 18
COUNT_BITS = 5
MODULE = "hdl.array"

PROPERTIES = {
    "transfer": "i_a and i_b beats accepted differ by at most 1; rows owed (R per tile "
                "accepted minus rows delivered) stay in 0..2R; o_c.last on every R-th row",
    "ready": "i_a.ready and i_b.ready are equal under all four values of (i_a.valid, "
             "i_b.valid) in every state reachable within the depth",
    "stable": "o_c valid and not ready => next cycle o_c.valid and the same o_c.payload",
    "reset": "after a reset: o_c.valid low, i_a.ready and i_b.ready high; no row from "
             "before the reset is delivered after it",
}


class _ArrayHarness(Elaboratable):
    def __init__(self, hdl_array, prop: str):
        self._module, self._prop = hdl_array, prop

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self._module.SystolicArray(ROWS, COLS, ACC_WIDTH)
        drive_free(m, dut)
        if self._prop == "stable":
            payload_stable(m, dut.o_c, "o_c")
            return m
        a_beats = count(m, fires(dut.i_a), COUNT_BITS, "a_beats")
        b_beats = count(m, fires(dut.i_b), COUNT_BITS, "b_beats")
        owed = Signal(COUNT_BITS)
        m.d.sync += owed.eq(owed + Mux(fires(dut.i_a) & dut.i_a.payload.last, ROWS, 0)
                            - fires(dut.o_c))
        row = Signal(range(ROWS))
        with m.If(fires(dut.o_c)):
            m.d.sync += row.eq(Mux(row == ROWS - 1, 0, row + 1))
        m.d.comb += [
            Assert((a_beats - b_beats + 1)[:COUNT_BITS] <= 2, "i_a and i_b beats apart by > 1"),
            Assert(owed <= 2 * ROWS, "rows owed out of 0..2R"),
        ]
        with m.If(dut.o_c.valid):
            m.d.comb += Assert(dut.o_c.payload.last == (row == ROWS - 1),
                               "o_c.last not on every R-th row")
        if self._prop == "reset":
            with m.If(after_reset(m)):
                m.d.comb += [Assert(~dut.o_c.valid, "o_c.valid after reset"),
                             Assert(dut.i_a.ready & dut.i_b.ready, "not ready after reset")]
        return m


def _harness(prop):
    def build(hdl_array):
        if prop == "ready":
            return ReadyMiter(lambda: hdl_array.SystolicArray(ROWS, COLS, ACC_WIDTH),
                              ["i_a", "i_b"], [lambda dut: dut.o_c.valid])
        return _ArrayHarness(hdl_array, prop)
    return build


_MUTANTS = {
    "transfer": Mutant(MODULE, (("busy.eq(end_3 | end_2", "busy.eq(end_2"),),
                       "busy forgets the cycle in which a tile enters the result chain, so "
                       "the next tile's last beat can issue and overwrite rows still stalled "
                       "on o_c", depth=20),
    "ready": Mutant(MODULE, (("self.i_a.ready.eq(~a_full | issue)",
                              "self.i_a.ready.eq(~a_full | issue & self.i_b.valid)"),),
                    "i_a.ready also needs i_b.valid"),
    "stable": Mutant(MODULE, (("with m.Elif(fire):", "with m.Elif(out_valid):"),),
                     "the result chain shifts on o_c.valid alone, also while stalled",
                     depth=12),
    "reset": Mutant(MODULE, (("out_valid = Signal()", "out_valid = Signal(reset_less=True)"),),
                    "o_c.valid is a reset-less register", depth=12),
}

#: (mode, depth) per property: k-induction where it closes, else BMC from reset.
_MODES = {"transfer": ("bmc", 24), "ready": ("bmc", 24), "stable": ("prove", 5),
          "reset": ("bmc", 24)}

PROOFS = [Proof(f"array.{prop}", "array", PROPERTIES[prop], _harness(prop), *_MODES[prop],
                _MUTANTS[prop])
          for prop in PROPERTIES]
