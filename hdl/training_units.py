"""The three units a 4-bit training step runs on, side by side on one clock.

A training step (docs/rtl_training.md) needs the MAC array for its three GEMMs, the gradient
unit to quantize each FP16 gradient to R4, and the read-out to turn accumulators into FP16.
:class:`TrainingUnits` instantiates exactly those components, unchanged, and brings their
ports out under one module: the host (``sim.rtl_backend``) moves codes between them and
schedules the tiles, so every number of a training step comes from this one generated
Verilog model. The units do not talk to each other here; :class:`hdl.backward_tile.BackwardTile`
is the hardwired gradient unit -> array -> read-out path of a single backward GEMM.
"""

from __future__ import annotations

from amaranth.hdl import Module, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden.gemm import READOUT_OFFSET_BITS, check_acc_width
from hdl.array import SystolicArray, a_layout, b_layout, c_layout
from hdl.gradient_unit import GradientUnit, codes_out_layout, grad_in_layout
from hdl.params import check_positive_int
from hdl.r4_quantizer import SAT_COUNT_BITS
from hdl.readout import ReadoutLanes, readout_lanes_in_layout, readout_lanes_out_layout

__all__ = ["TrainingUnits", "UNIT_PORTS"]

#: unit -> {port of TrainingUnits: port of the unit's own component}: how the units' ports are
#: brought out. An engine that simulates the units as separate models routes by this table.
UNIT_PORTS = {
    "array": {"i_a": "i_a", "i_b": "i_b", "o_c": "o_c"},
    "gradient_unit": {name: name for name in (
        "i_grad", "o_codes", "phase", "scale_exp", "stochastic", "seed", "seed_load",
        "sat_count", "sat_clear", "amax_clear", "amax", "next_scale_exp", "nonfinite")},
    "readout": {"i_acc": "i", "o_fp16": "o", "exp_offset": "exp_offset"},
}


class TrainingUnits(wiring.Component):
    """An R x C :class:`hdl.array.SystolicArray`, a C-lane :class:`hdl.gradient_unit.GradientUnit`
    and a C-lane :class:`hdl.readout.ReadoutLanes`, ports brought out unchanged.

    Parameters
    ----------
    rows, cols : int
        Array size; the gradient unit and the read-out have ``cols`` lanes, one array row of
        operand B (or of results) per clock.
    acc_width : int
        Accumulator width, 18..48.

    Attributes
    ----------
    i_a, i_b, o_c
        The array's streams (see :class:`hdl.array.SystolicArray`).
    i_grad, o_codes, phase, scale_exp, stochastic, seed, seed_load, sat_count, sat_clear,
    amax_clear, amax, next_scale_exp, nonfinite
        The gradient unit's streams, configuration and status (see
        :class:`hdl.gradient_unit.GradientUnit`).
    i_acc, o_fp16, exp_offset
        The read-out's ``i``, ``o`` and ``exp_offset`` (see :class:`hdl.readout.ReadoutLanes`).
    """

    def __init__(self, rows: int = 8, cols: int = 8, acc_width: int = 32):
        self._rows = check_positive_int("rows", rows)
        self._cols = check_positive_int("cols", cols)
        self._acc_width = check_acc_width(acc_width)
        c, w = self._cols, self._acc_width
        super().__init__({
            "i_a": In(stream.Signature(a_layout(self._rows))),
            "i_b": In(stream.Signature(b_layout(c))),
            "o_c": Out(stream.Signature(c_layout(c, w))),
            "i_grad": In(stream.Signature(grad_in_layout(c))),
            "o_codes": Out(stream.Signature(codes_out_layout(c))),
            "phase": In(1),
            "scale_exp": In(signed(8)),
            "stochastic": In(1),
            "seed": In(32),
            "seed_load": In(1),
            "sat_count": Out(SAT_COUNT_BITS),
            "sat_clear": In(1),
            "amax_clear": In(1),
            "amax": Out(15),
            "next_scale_exp": Out(signed(8)),
            "nonfinite": Out(1),
            "i_acc": In(stream.Signature(readout_lanes_in_layout(w, c))),
            "o_fp16": Out(stream.Signature(readout_lanes_out_layout(c))),
            "exp_offset": In(signed(READOUT_OFFSET_BITS)),
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
        units = {
            "array": SystolicArray(self._rows, self._cols, self._acc_width),
            "gradient_unit": GradientUnit(self._cols),
            "readout": ReadoutLanes(self._acc_width, self._cols),
        }
        for unit, component in units.items():
            m.submodules[unit] = component
            for outer, inner in UNIT_PORTS[unit].items():
                ours, theirs = getattr(self, outer), getattr(component, inner)
                member = self.signature.members[outer]
                if member.is_signature:
                    if member.flow == In:
                        wiring.connect(m, wiring.flipped(ours), theirs)
                    else:
                        wiring.connect(m, theirs, wiring.flipped(ours))
                elif member.flow == In:
                    m.d.comb += theirs.eq(ours)
                else:
                    m.d.comb += ours.eq(theirs)
        return m
