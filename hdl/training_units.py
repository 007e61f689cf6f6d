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

from collections.abc import Mapping
from types import MappingProxyType

from amaranth.hdl import Module
from amaranth.lib import wiring

from golden.gemm import check_acc_width
from hdl.array import OuterProductArray
from hdl.controls import QUANTIZER_CONTROLS, connect_ports
from hdl.gradient_unit import GradientUnit
from hdl.params import ArrayShape, check_positive_int
from hdl.readout import ReadoutLanes

__all__ = ["TrainingUnits", "UNIT_PORTS"]

#: unit -> {port of TrainingUnits: port of the unit's own component}: how the units' ports are
#: brought out. An engine that simulates the units as separate models routes by this table.
UNIT_PORTS = {
    "array": {"i_a": "i_a", "i_b": "i_b", "o_c": "o_c"},
    "gradient_unit": {name: name for name in ("i_grad", "o_codes", *QUANTIZER_CONTROLS)},
    "readout": {"i_acc": "i", "o_fp16": "o", "exp_offset": "exp_offset"},
}


class TrainingUnits(ArrayShape, wiring.Component):
    """An R x C :class:`hdl.array.OuterProductArray`, a C-lane :class:`hdl.gradient_unit.GradientUnit`
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
        The array's streams (see :class:`hdl.array.OuterProductArray`).
    i_grad, o_codes, phase, scale_exp, stochastic, seed, seed_load, sat_count, sat_clear,
    amax_clear, amax, next_scale_exp, nonfinite
        The gradient unit's streams, configuration and status (see
        :class:`hdl.gradient_unit.GradientUnit`).
    i_acc, o_fp16, exp_offset
        The read-out's ``i``, ``o`` and ``exp_offset`` (see :class:`hdl.readout.ReadoutLanes`).
    LATENCY : Mapping[str, int]
        The units are independent paths, so one latency per output stream, each its unit's
        own ``LATENCY``: ``o_c`` 5 (from a tile's last ``i_a``/``i_b`` handshake),
        ``o_codes`` 6 (from ``i_grad``), ``o_fp16`` 8 (from ``i_acc``).
    """

    def __init__(self, rows: int = 8, cols: int = 8, acc_width: int = 32):
        self._rows = check_positive_int("rows", rows)
        self._cols = check_positive_int("cols", cols)
        self._acc_width = check_acc_width(acc_width)
        self._units = {
            "array": OuterProductArray(self._rows, self._cols, self._acc_width),
            "gradient_unit": GradientUnit(self._cols),
            "readout": ReadoutLanes(self._acc_width, self._cols),
        }
        # Each port is the unit's own member under its outer name: one declaration, theirs.
        super().__init__({outer: self._units[unit].signature.members[inner]
                          for unit, ports in UNIT_PORTS.items()
                          for outer, inner in ports.items()})

    @property
    def LATENCY(self) -> Mapping[str, int]:
        """Output stream -> cycles from the handshake on its unit's input to its first cycle
        on that output (the unit's ``LATENCY``; the ports pass straight through)."""
        return MappingProxyType({outer: self._units[unit].LATENCY
                                 for unit, outer in (("array", "o_c"),
                                                     ("gradient_unit", "o_codes"),
                                                     ("readout", "o_fp16"))})

    def elaborate(self, platform):
        m = Module()
        for unit, component in self._units.items():
            m.submodules[unit] = component
            connect_ports(m, self, component, UNIT_PORTS[unit])
        return m
