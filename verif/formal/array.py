"""Formal harnesses of :class:`hdl.array.OuterProductArray` (2 x 2, 3 x 2, 1 x 3; ``acc_width`` 18).

The array has two input streams and one output stream, so its stream properties are stated
with counts on all three ports (all wrapping, compared modulo 2^COUNT_BITS):

- ``transfer``: beats accepted on ``i_a`` and on ``i_b`` never differ by more than one (the
  k-th beats pair up); rows owed (R per accepted ``i_a`` beat with ``last``, minus rows
  delivered on ``o_c``) stay within 0..2R (one tile draining, one waiting in the input
  register): a lost row or tile makes the count grow past 2R, a duplicated one below 0; and
  ``o_c.last`` is set on exactly every R-th delivered row;
- ``ready``: :class:`verif.formal.props.ReadyMiter` on ``i_a`` and ``i_b`` together;
- ``stable``: :func:`verif.formal.props.payload_stable` on ``o_c``;
- ``order``: with every A code of row i equal to i + 1 and every B code 1 (INT4), row r of a
  tile of K beats is (r + 1) K in every column: the rows of each tile leave in order, none
  repeated or skipped (what the counts of ``transfer`` cannot see);
- ``rate``: a cycle that accepts a beat on both inputs, not the last of a tile, is followed by
  one in which both are ready again: one product per cycle while both producers keep up
  (issue 15's surviving mutant that halved the throughput broke exactly this);
- ``reset``: after a reset ``o_c.valid`` is low and both ``ready`` are high, and the
  ``transfer`` relations hold with the counts restarted (no row of a tile from before the
  reset is delivered after it).

The ports do not show the array's control state (input registers full, a tile end in flight,
rows pending), so k-induction needs helper invariants that tie the counts to that state:
:func:`_invariants` states them on the internal registers of ``hdl.array`` by name, and they
are proved with the properties (a helper that did not hold would fail the proof).
"""

from __future__ import annotations

from amaranth.hdl import Assert, Cat, Elaboratable, Module, Mux, ResetSignal, Signal, signed

from hdl.modes import AFormat, BFormat
from verif.formal.props import (ReadyMiter, after_reset, count, drive_free, fires, internal,
                                internal_signals, payload_stable)
from verif.formal.sby import Mutant, Proof

__all__ = ["PROOFS"]

ACC_WIDTH = 18
#: Array sizes (rows, cols): every property on 2 x 2; the control proofs also on 3 x 2 and on
#: 1 x 3 (a one-row tile is its own last row), because the control depends on R.
SIZES = ((2, 2), (3, 2), (1, 3))
#: Width of the wrapping counts (rows owed stay below 2R + 1 <= 2^COUNT_BITS).
COUNT_BITS = 5
MODULE = "hdl.array"

PROPERTIES = {
    "transfer": "i_a and i_b beats accepted differ by at most 1; rows owed (R per tile "
                "accepted minus rows delivered) stay in 0..2R; o_c.last on every R-th row",
    "ready": "i_a.ready and i_b.ready are equal under all four values of (i_a.valid, "
             "i_b.valid) in every reachable state",
    "stable": "o_c valid and not ready => next cycle o_c.valid and the same o_c.payload",
    "order": "with A[i, k] = i + 1 and B = 1 (INT4), row r of every tile is (r + 1) * "
             "row 0 > 0 in every column: rows in order, none repeated or skipped",
    "rate": "i_a and i_b both accepting a beat that is not a tile's last => both ready in the "
            "next cycle (one beat per cycle while both producers keep up)",
    "reset": "after a reset: o_c.valid low, i_a.ready and i_b.ready high; no row from "
             "before the reset is delivered after it",
}


#: Internal registers of hdl.array.OuterProductArray that the helper invariants read.
CONTROL = ("a_full", "b_full", "a_reg", "busy", "end_1", "end_2", "end_3", "pending",
           "out_valid", "out_last")


def _control(signals: dict, module, rows: int, dut) -> dict:
    control = {name: internal(signals, name, dut) for name in CONTROL}
    control["a_last"] = control["a_reg"][module.a_layout(rows)["last"].offset]
    return control


def _invariants(m, c: dict, rows: int, *, a_beats, b_beats, owed, row) -> None:
    """Helper invariants: the port counts and the row position in terms of the control state."""
    in_flight = c["end_1"] | c["end_2"] | c["end_3"]
    m.d.comb += [
        Assert((a_beats + c["b_full"] - b_beats - c["a_full"])[:COUNT_BITS] == 0,
               "helper: beat counts vs input registers"),
        Assert(c["out_valid"] == (c["pending"] != 0), "helper: out_valid"),
        Assert(c["out_last"] == (c["pending"] == 1), "helper: out_last"),
        Assert(c["pending"] <= rows, "helper: pending <= R"),
        Assert(c["busy"] == (in_flight | c["out_valid"]), "helper: busy"),
        Assert(c["end_1"] + c["end_2"] + c["end_3"] + c["out_valid"] <= 1,
               "helper: one tile end in flight or draining"),
        Assert(owed == rows * (c["a_full"] & c["a_last"]) + rows * in_flight + c["pending"],
               "helper: rows owed"),
        Assert(row == Mux(c["pending"] == 0, 0, rows - c["pending"]), "helper: row"),
    ]


class _ArrayHarness(Elaboratable):
    def __init__(self, hdl_array, prop: str, rows: int, cols: int):
        self._module, self._prop, self._rows, self._cols = hdl_array, prop, rows, cols

    def elaborate(self, platform):
        m = Module()
        rows = self._rows
        dut = self._module.OuterProductArray(rows, self._cols, ACC_WIDTH)
        m.submodules.dut, signals = internal_signals(dut, platform)
        drive_free(m, dut)
        if self._prop == "stable":
            payload_stable(m, dut.o_c, "o_c")
            return m
        if self._prop == "rate":
            pair = Signal(reset_less=True)
            m.d.sync += pair.eq(fires(dut.i_a) & fires(dut.i_b) & ~dut.i_a.payload.last
                                & ~ResetSignal())
            with m.If(pair):
                m.d.comb += Assert(dut.i_a.ready & dut.i_b.ready, "a pair in did not make room")
            return m
        a_beats = count(m, fires(dut.i_a), COUNT_BITS, "a_beats")
        b_beats = count(m, fires(dut.i_b), COUNT_BITS, "b_beats")
        owed = Signal(COUNT_BITS)
        m.d.sync += owed.eq(owed + Mux(fires(dut.i_a) & dut.i_a.payload.last, rows, 0)
                            - fires(dut.o_c))
        row = Signal(range(rows))
        with m.If(fires(dut.o_c)):
            m.d.sync += row.eq(Mux(row == rows - 1, 0, row + 1))
        m.d.comb += [
            Assert((a_beats - b_beats + 1)[:COUNT_BITS] <= 2, "i_a and i_b beats apart by > 1"),
            Assert(owed <= 2 * rows, "rows owed out of 0..2R"),
        ]
        with m.If(dut.o_c.valid):
            m.d.comb += Assert(dut.o_c.payload.last == (row == rows - 1),
                               "o_c.last not on every R-th row")
        if self._prop == "order":
            self._row_order(m, dut, row)
        else:
            _invariants(m, _control(signals, self._module, rows, dut), rows, a_beats=a_beats,
                        b_beats=b_beats, owed=owed, row=row)
        if self._prop == "reset":
            with m.If(after_reset(m)):
                m.d.comb += [Assert(~dut.o_c.valid, "o_c.valid after reset"),
                             Assert(dut.i_a.ready & dut.i_b.ready, "not ready after reset")]
        return m

    def _row_order(self, m, dut, row):
        m.d.comb += [dut.i_a.payload.format.eq(AFormat.INT4),
                     dut.i_b.payload.format.eq(BFormat.INT4)]
        m.d.comb += [dut.i_a.payload.data[i].eq(i + 1) for i in range(self._rows)]
        m.d.comb += [dut.i_b.payload.data[j].eq(1) for j in range(self._cols)]
        accs = [dut.o_c.payload.data[j].acc for j in range(self._cols)]
        first = Signal(signed(ACC_WIDTH))
        with m.If(fires(dut.o_c) & (row == 0)):
            m.d.sync += first.eq(accs[0])
        with m.If(dut.o_c.valid & (row == 0)):
            m.d.comb += Assert(accs[0] > 0, "row 0 of a tile is not K")
            m.d.comb += [Assert(acc == accs[0], "columns differ") for acc in accs[1:]]
        with m.If(dut.o_c.valid & (row != 0)):
            m.d.comb += [Assert(acc == first * (row + 1), "row r is not (r + 1) * row 0")
                         for acc in accs]


def _harness(prop: str, rows: int, cols: int):
    def build(hdl_array):
        if prop == "ready":
            return ReadyMiter(lambda: hdl_array.OuterProductArray(rows, cols, ACC_WIDTH),
                              ["i_a", "i_b"],
                              [lambda dut, signals: Cat(*_control(signals, hdl_array, rows,
                                                                  dut).values())])
        return _ArrayHarness(hdl_array, prop, rows, cols)
    return build


_MUTANTS = {
    "transfer": Mutant((("busy.eq(end_3 | end_2", "busy.eq(end_2"),),
                       "busy forgets the cycle in which a tile enters the result chain, so "
                       "the next tile's last beat can issue and overwrite rows still stalled "
                       "on o_c", depth=20),
    "ready": Mutant((("hold(m, self.i_a, a_reg, a_full, issue)",
                      "hold(m, self.i_a, a_reg, a_full, issue & self.i_b.valid)"),),
                    "i_a's register is released only with i_b.valid, so i_a.ready depends "
                    "on i_b.valid"),
    "stable": Mutant((("load=end_3, fire=fire)", "load=end_3, fire=out_valid)"),),
                     "the result chain shifts on o_c.valid alone, also while stalled",
                     depth=12),
    "order": Mutant((("chain[i].eq(chain[i + 1])", "chain[i].eq(chain[i])"),),
                    "the result chain does not shift: row 0 is sent R times", depth=12,
                    module="hdl.stream"),
    "rate": Mutant((("upstream.ready.eq(~full | release)", "upstream.ready.eq(~full)"),),
                   "an operand register is ready only while empty (issue 15: half rate)",
                   module="hdl.stream"),
    "reset": Mutant((("out_valid = Signal()", "out_valid = Signal(reset_less=True)"),),
                    "o_c.valid is a reset-less register", depth=12),
}

#: (mode, depth) per property: k-induction where it closes; ``order`` would need invariants
#: on every accumulator, so it is BMC from reset (18 cycles: three tiles of K = 1 or two of
#: K = 6 with stalls).
_MODES = {"transfer": ("prove", 2), "ready": ("prove", 2), "stable": ("prove", 5),
          "order": ("bmc", 18), "rate": ("prove", 2), "reset": ("prove", 2)}


def _name(prop: str, rows: int, cols: int) -> str:
    return f"array.{prop}" if (rows, cols) == SIZES[0] else f"array_{rows}x{cols}.{prop}"


PROOFS = [Proof(_name(prop, rows, cols), "array", PROPERTIES[prop], MODULE,
                _harness(prop, rows, cols), *_MODES[prop], (_MUTANTS[prop],))
          for rows, cols in SIZES for prop in PROPERTIES
          if prop != "order" or (rows, cols) == SIZES[0]]
