"""The xorshift32 generator that feeds stochastic rounding, bit-identical to golden.formats.

Stochastic R4 rounding is only reproducible if the hardware draws exactly the numbers the
golden model draws: Marsaglia's xorshift32 with shifts (13, 17, 5), each draw being the state
after one step, one draw per element in stream order, starting from
:data:`golden.formats.DEFAULT_SEED`. A step is three XOR-with-shift operations, i.e. pure
wiring plus XOR gates, and the map is linear over GF(2): ``steps`` successive draws per clock
(one per lane of a parallel unit) are each one flat XOR per bit of the current state, with
no multiplier and no table.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal, Value, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from golden.formats import DEFAULT_SEED, xorshift32_step
from hdl.params import check_positive_int

__all__ = ["xorshift32_steps", "Xorshift32"]


def _columns(steps: int) -> list[int]:
    """Column i: the state after ``steps`` steps from state 1 << i (xorshift is linear over
    GF(2), so any state's successor is the XOR of the columns of its set bits)."""
    columns = []
    for i in range(32):
        s = 1 << i
        for _ in range(steps):
            s = xorshift32_step(s)
        columns.append(s)
    return columns


def xorshift32_steps(m: Module, state: Value, steps: int) -> list[Signal]:
    """The ``steps`` successive states after ``state`` (draw k is the state after k+1 steps).

    Each draw is computed from ``state`` directly, every bit as one flat XOR of the state
    bits the (k+1)-step map reads, so draw k is a few LUT levels deep whatever k; chaining
    the steps instead would make the last draw ``steps`` times as deep.
    """
    out = []
    for k in range(steps):
        columns = _columns(k + 1)
        nxt = Signal(32, name=f"step_{k}")
        m.d.comb += nxt.eq(Cat(*(Cat(*(state[i] for i in range(32) if columns[i] >> j & 1)).xor()
                                 for j in range(32))))
        out.append(nxt)
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
