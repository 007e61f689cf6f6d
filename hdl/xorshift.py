"""The xorshift32 generator that feeds stochastic rounding, bit-identical to golden.formats.

Stochastic R4 rounding is only reproducible if the hardware draws exactly the numbers the
golden model draws: Marsaglia's xorshift32 with shifts (13, 17, 5), each draw being the state
after one step, one draw per element in stream order, starting from
:data:`golden.formats.DEFAULT_SEED`. A step is three XOR-with-shift operations, i.e. pure
wiring plus XOR gates, so ``steps`` successive draws per clock (one per lane of a parallel
unit) unroll into a combinational chain with no multiplier and no table.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, Value, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from golden.formats import DEFAULT_SEED
from hdl.params import check_positive_int

__all__ = ["xorshift32_step", "xorshift32_steps", "Xorshift32"]


def xorshift32_step(state: Value) -> Value:
    """One xorshift32 step on a 32-bit value (combinational), as golden.formats.xorshift32_step."""
    s = state
    s = (s ^ (s << 13))[:32]
    s = s ^ (s >> 17)
    s = (s ^ (s << 5))[:32]
    return s


def xorshift32_steps(m: Module, state: Value, steps: int) -> list[Signal]:
    """The ``steps`` successive states after ``state`` (draw k is the state after k+1 steps).

    Each step lands in its own signal: a step reads its input three times, so chaining bare
    expressions would make the emitted netlist grow as 3^steps.
    """
    out = []
    for k in range(steps):
        nxt = Signal(32, name=f"step_{k}")
        m.d.comb += nxt.eq(xorshift32_step(state))
        out.append(nxt)
        state = nxt
    return out


class Xorshift32(wiring.Component):
    """A xorshift32 generator that hands out ``steps`` consecutive draws per clock.

    ``draws[k]`` is the state after k+1 steps from the current state; they are valid
    combinationally every cycle, and the state moves on by ``steps`` only in a cycle with
    ``advance`` high, so a stalled stream consumes no random numbers. ``seed_load`` replaces
    the state with ``seed`` and wins over ``advance`` in the same cycle. The state resets to
    :data:`golden.formats.DEFAULT_SEED`; a seed of 0 would lock the generator at 0 (xorshift
    never leaves it), so callers must load non-zero seeds, exactly as the golden model demands.

    Parameters
    ----------
    steps : int
        Draws per clock (the number of lanes served).
    """

    def __init__(self, steps: int = 1):
        self._steps = steps = check_positive_int("steps", steps)
        super().__init__({
            "advance": In(1),
            "seed": In(32),
            "seed_load": In(1),
            "draws": Out(data.ArrayLayout(unsigned(32), steps)),
        })

    @property
    def steps(self) -> int:
        return self._steps

    def elaborate(self, platform):
        m = Module()
        state = Signal(32, init=DEFAULT_SEED)
        chain = xorshift32_steps(m, state, self._steps)
        for k, draw in enumerate(chain):
            m.d.comb += self.draws[k].eq(draw)
        with m.If(self.seed_load):
            m.d.sync += state.eq(self.seed)
        with m.Elif(self.advance):
            m.d.sync += state.eq(chain[-1])
        return m
