"""The native engine: :class:`sim.rtl_backend.Engine` on Verilated models in a C++ loop.

Each unit of :class:`hdl.training_units.TrainingUnits` is its own model here (the registry's
array, gradient unit and read-out lanes: the components TrainingUnits instantiates), built
once per configuration by :func:`sim.native.build_native`, so a cycle of one unit does not
evaluate the idle others; ports are routed by :data:`hdl.training_units.UNIT_PORTS`.
"""

from __future__ import annotations

from hdl.gen import build as build_design
from hdl.gen import file_stem
from hdl.training_units import UNIT_PORTS
from sim.native import NativeModel, NativeFault, build_native
from sim.rtl_backend import EngineFault

__all__ = ["NativeEngine", "UNIT_DESIGNS"]

#: unit -> the registry entry (hdl.gen.DESIGNS) the native engine builds for it.
UNIT_DESIGNS = {"array": "array_{rows}x{cols}", "gradient_unit": "gradient_unit",
                "readout": "readout_lanes_{cols}"}


class NativeEngine:
    """The units of a TrainingUnits configuration as native models; built once, then cached.

    ``seed`` non-zero makes every stream run with random idle and stall cycles (and junk
    payload on idle beats) drawn from that seed; 0 runs at full rate.
    """

    def __init__(self, rows: int = 8, cols: int = 8, acc_width: int = 32, *, seed: int = 0,
                 idle: float = 0.0, stall: float = 0.0, log=print):
        self.rows, self.cols, self.acc_width = rows, cols, acc_width
        self.stalls(seed, idle, stall)
        self._models, self._route = {}, {}
        for unit, design in UNIT_DESIGNS.items():
            _, component = build_design(design, rows=rows, cols=cols, acc_width=acc_width)
            name = file_stem(design, rows=rows, cols=cols, acc_width=acc_width)
            lib, ports = build_native(component, name, log=log)
            self._models[unit] = NativeModel(lib, ports)
            self._models[unit].reset()
            for outer, inner in UNIT_PORTS[unit].items():
                self._route[outer] = (unit, inner)

    def stalls(self, seed: int, idle: float = 0.0, stall: float = 0.0) -> None:
        """Random idle / stall cycles (and junk payload) from ``seed`` from now on; 0: none."""
        if not (0 <= idle < 1 and 0 <= stall < 1):
            raise ValueError(f"idle and stall must be in [0, 1), not {idle!r} and {stall!r}")
        self._seed, self._idle, self._stall = seed, idle, stall
        self._runs = 0

    def set(self, port, value):
        unit, inner = self._route[port]
        self._models[unit].set(inner, value)

    def get(self, port):
        unit, inner = self._route[port]
        return self._models[unit].get(inner)

    def step(self, cycles):
        for model in self._models.values():
            model.step(cycles)

    def run(self, inputs, outputs, *, budget):
        units = {self._route[s][0] for s in (*inputs, *outputs)}
        if len(units) != 1:
            raise ValueError(f"one run drives one unit, not {sorted(units)}")
        unit = units.pop()
        seed = 0
        if self._seed:
            self._runs += 1
            seed = (self._seed * 0x9E3779B1 + self._runs) & 0xFFFFFFFF or 1
        inner = {s: self._route[s][1] for s in (*inputs, *outputs)}
        outer = {v: k for k, v in inner.items()}
        try:
            results, cycles = self._models[unit].run(
                {inner[s]: w for s, w in inputs.items()},
                {inner[s]: n for s, n in outputs.items()},
                budget=budget, seed=seed, idle=self._idle, stall=self._stall)
        except NativeFault as exc:
            raise EngineFault(str(exc), {outer[s]: v for s, v in exc.in_pos.items()},
                                {outer[s]: v for s, v in exc.out_pos.items()}) from None
        return {outer[s]: w for s, w in results.items()}, cycles

    def reset(self):
        for model in self._models.values():
            model.reset()

    def close(self):
        for model in self._models.values():
            model.close()
