"""Formal harnesses of :class:`hdl.readout.Readout` and :class:`hdl.readout.ReadoutLanes`
(``acc_width`` 18, the smallest; 2 lanes)."""

from __future__ import annotations

from verif.formal.sby import Mutant, Proof
from verif.formal.stage import PROPERTIES, stage_harness

__all__ = ["PROOFS"]

ACC_WIDTH = 18
LANES = 2
MODULE = "hdl.readout"

_READY = "self.i.ready.eq(entry.ready)]"
_GHOST = ("ghost = Signal(reset_less=True)\n"
          "        m.d.sync += ghost.eq(ResetSignal() & self.o.valid)\n"
          "        m.d.comb += [entry.valid.eq(self.i.valid | ghost)")
_IMPORT = ("from amaranth.hdl import ", "from amaranth.hdl import ResetSignal, ")


def _mutants(lanes: str, payload: str) -> dict:
    """The stage proofs' mutants of one class: each edit quotes a line of that class only
    (``lanes``: how its call of ``_pipeline`` reads the beat; ``payload``: what its last
    stage drives on ``o.payload``)."""
    call = f"pipe = _pipeline(m, entry, {lanes}"
    entry = "m.d.comb += [entry.valid.eq(self.i.valid), self.i.ready.eq(entry.ready)]\n" \
            f"        {call}"
    return {
        "transfer": Mutant(((entry, "m.d.comb += [entry.valid.eq(self.i.valid), "
                                    f"self.i.ready.eq(1)]\n        {call}"),),
                           "i.ready always high: a beat offered to a stalled pipeline is lost"),
        "ready": Mutant(((entry, "m.d.comb += [entry.valid.eq(self.i.valid), "
                                 "self.i.ready.eq(entry.ready | ~self.i.valid)]\n"
                                 f"        {call}"),),
                        "i.ready also depends on i.valid"),
        "stable": Mutant(((f"pipe.connect(self.o, {payload})",
                           "pipe.connect(SimpleNamespace(valid=self.o.valid, ready=1, "
                           f"payload=self.o.payload), {payload})"),),
                         "the pipeline moves on while o is stalled"),
        "reset": Mutant(((entry, _GHOST + ", self.i.ready.eq(entry.ready)]\n"
                                  f"        {call}"), _IMPORT),
                        "a reset-less flag sends a beat into the pipeline after a reset",
                        depth=14),              # a beat through the eight stages, then a reset
    }


_MUTANTS = {"Readout": _mutants("[self.i.payload.acc]", "pipe.last.lanes[0]"),
            "ReadoutLanes": _mutants("[self.i.payload[k] for k in range(n)]",
                                     "pipe.last.lanes")}

_DUTS = {"Readout": ("readout", lambda module: module.Readout(ACC_WIDTH)),
         "ReadoutLanes": ("readout_lanes", lambda module: module.ReadoutLanes(ACC_WIDTH, LANES))}


def _harness(make, prop):
    def build(hdl_readout):
        stages = tuple(f"readout_{step}_valid" for step in hdl_readout.STEPS)
        return stage_harness(lambda: make(hdl_readout), prop, stages=stages)
    return build


PROOFS = [Proof(f"{name}.{prop}", "readout", PROPERTIES[prop], MODULE, _harness(make, prop),
                "prove", 2, (_MUTANTS[cls][prop],))
          for cls, (name, make) in _DUTS.items() for prop in PROPERTIES]
