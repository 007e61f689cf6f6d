# amaranth: UnusedElaboratable=no
"""Control inputs in every cycle relation to a beat, checked cycle by cycle (Amaranth sim).

Every control pulse (``sat_clear``, ``amax_clear``, ``seed_load``) and every configuration
change (``phase``, ``scale_exp``, ``stochastic``, the read-out's ``exp_offset``) is driven at
random cycles while beats stream with random gaps (junk payloads on idle cycles) and random
backpressure, so each occurs in the same cycle as an accepted beat, in the cycle after one and
while idle. The expected behaviour is the documented rule, applied edge by edge by
:class:`verif.lib.control_model.GradientControlModel` and golden; the status outputs are
compared in every cycle, the streamed results as whole lists, and each test asserts that the
relations it exists for actually occurred (so no seed can pass it vacuously). A directed
sequence then checks each same-cycle rule once where its effect is certain to show.
"""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest

from golden.formats import DEFAULT_SEED, r4_quantize
from golden.gemm import _sticky_walk, operand_values, readout
from sim.array_payload import pack_a
from hdl.backward_tile import BackwardTile
from hdl.gradient_unit import GradientUnit
from hdl.r4_quantizer import R4QuantizerLane
from hdl.readout import Readout
from verif.lib.budget import cycle_budget
from verif.lib.control_model import GradientControlModel
from verif.lib.sim_streams import StreamSink, StreamSource, run_streams, simulate

#: Probability of a pulse on each control input, and of a configuration change, per cycle.
PULSE = 0.25
SCALE_EXPS = (-128, -20, -9, -2, 0, 3, 8, 13, 127)


class Controls:
    """Random pulses and configuration changes of a gradient unit, and their coverage."""

    PULSES = ("sat_clear", "seed_load", "amax_clear")

    def __init__(self, dut, rnd: random.Random, pulses=PULSES):
        self.dut, self.rnd, self.pulses = dut, rnd, pulses
        self.config = {"phase": 0, "scale_exp": 0, "stochastic": 1}
        self.now: dict[str, int] = {}
        self.prev_fire = False
        self.prev_config = dict(self.config)
        self.seen = Counter()

    def drive(self, ctx) -> None:
        rnd = self.rnd
        self.prev_config = dict(self.config)
        if rnd.random() < PULSE:
            self.config["phase"] ^= 1
        if rnd.random() < PULSE:
            self.config["scale_exp"] = rnd.choice(SCALE_EXPS)
        if rnd.random() < PULSE:
            self.config["stochastic"] ^= 1
        self.now = {name: int(rnd.random() < PULSE) for name in self.pulses}
        self.now["seed"] = rnd.randrange(1, 2 ** 32)
        for name, value in {**self.config, **self.now}.items():
            ctx.set(getattr(self.dut, name), value)

    def record(self, fire: bool, result=None) -> None:
        """Count which pulse met which beat relation in this cycle."""
        changed = self.config != self.prev_config
        for name in (*self.pulses, "config_change"):
            on = changed if name == "config_change" else self.now[name]
            if on:
                self.seen[f"{name} with a beat" if fire else f"{name} while idle"] += 1
                if self.prev_fire:
                    self.seen[f"{name} in the cycle after a beat"] += 1
        if fire and self.now.get("sat_clear") and result.saturated.any():
            self.seen["sat_clear with a saturating beat"] += 1
        if fire and self.now.get("seed_load") and self.config["stochastic"]:
            self.seen["seed_load with a stochastic beat"] += 1
        self.prev_fire = fire

    def assert_covered(self, *, data_relations: bool = True) -> None:
        """Fail unless every relation occurred; ``data_relations`` also asks for the two that
        depend on the beat's data (a saturating beat, a stochastic one), which only a long
        stream meets under every seed."""
        wanted = [f"{name} {rel}" for name in (*self.pulses, "config_change")
                  for rel in ("with a beat", "in the cycle after a beat", "while idle")]
        if "sat_clear" in self.pulses and data_relations:
            wanted.append("sat_clear with a saturating beat")
        if "seed_load" in self.pulses and data_relations:
            wanted.append("seed_load with a stochastic beat")
        missing = [w for w in wanted if not self.seen[w]]
        assert not missing, f"relations never exercised: {missing} (seen: {dict(self.seen)})"


def random_beats(rnd: random.Random, n: int, lanes: int) -> list[list[int]]:
    """FP16 patterns, uniform over all 65536 (saturating, NaN and Inf ones included)."""
    return [[rnd.getrandbits(16) for _ in range(lanes)] for _ in range(n)]


def check_status(ctx, dut, model: GradientControlModel, cycle: int, *, amax: bool) -> None:
    where = f"cycle {cycle}"
    assert ctx.get(dut.sat_count) == model.sat_count, f"sat_count, {where}"
    if amax:
        assert ctx.get(dut.nonfinite) == model.nonfinite, f"nonfinite, {where}"
        assert ctx.get(dut.next_scale_exp) == model.next_scale_exp, f"next_scale_exp, {where}"
        if hasattr(dut, "amax"):
            assert ctx.get(dut.amax) == model.amax, f"amax, {where}"


@pytest.mark.parametrize("lanes", [None, 3])
def test_gradient_controls_in_every_cycle_relation(lanes, seed):
    """The lane (None) and a 3-lane unit: pulses and config changes against the documented
    same-cycle rules; ``i.ready == ~o.valid | o.ready`` in every cycle."""
    rnd = random.Random(seed)
    unit = lanes is not None
    dut = GradientUnit(lanes) if unit else R4QuantizerLane()
    i, o = (dut.i_grad, dut.o_codes) if unit else (dut.i, dut.o)
    width = lanes or 1
    beats = random_beats(rnd, 160, width)
    model = GradientControlModel(width, dut.AMAX_LATENCY if unit else 1)
    controls = Controls(dut, rnd, Controls.PULSES if unit else ("sat_clear", "seed_load"))
    source = StreamSource(i, beats if unit else [b[0] for b in beats], rnd=rnd, idle=0.3)
    sink = StreamSink(o, len(beats), rnd=rnd, stall=0.3)
    expected = []

    def each_cycle(ctx, cycle):
        controls.drive(ctx)
        check_status(ctx, dut, model, cycle, amax=unit)
        ready = ctx.get(i.ready)
        assert ready == (not ctx.get(o.valid) or sink.ready), f"i.ready, cycle {cycle}"
        fire = source.holding and ready
        beat = beats[source.sent] if fire else None
        result = model.quantize(beat, **controls.config) if fire else None
        if fire:
            expected.append((result, controls.config["phase"]))
        controls.record(fire, result)
        model.clock(beat=beat, result=result, delivered=ctx.get(o.valid) and sink.ready,
                    stochastic=controls.config["stochastic"], **controls.now)

    async def testbench(ctx):
        await run_streams(ctx, [source], [sink], each_cycle=each_cycle, where="controls",
                          budget=cycle_budget(len(beats), idle=0.3, stall=0.3,
                                              latency=dut.LATENCY))

    simulate(dut, testbench)
    for n, (got, (ref, phase)) in enumerate(zip(sink.got, expected)):
        elems = [got.lanes[k] for k in range(width)] if unit else [got]
        assert [(e.code, e.invalid, e.saturated) for e in elems] == list(zip(
            ref.codes.tolist(), ref.invalid.tolist(), ref.saturated.tolist())), f"beat {n}"
        if unit:
            assert got.phase == phase, f"phase of beat {n}"
    controls.assert_covered()


def test_readout_offset_changes_in_every_cycle(seed):
    """``exp_offset`` changes at random cycles; each beat is converted with the offset of the
    cycle it was accepted in; one beat per clock handshake rule checked every cycle."""
    rnd = random.Random(seed)
    dut = Readout(32)
    accs = [rnd.randrange(-2 ** 31, 2 ** 31) >> rnd.randrange(0, 31) for _ in range(200)]
    source = StreamSource(dut.i, [{"acc": a} for a in accs], rnd=rnd, idle=0.3)
    sink = StreamSink(dut.o, len(accs), rnd=rnd, stall=0.3)
    offsets, seen = [], Counter()
    state = {"offset": 0, "prev_fire": False}

    def each_cycle(ctx, cycle):
        changed = rnd.random() < 0.5
        if changed:
            state["offset"] = rnd.randrange(-40, 10)
        ctx.set(dut.exp_offset, state["offset"])
        ready = ctx.get(dut.i.ready)
        assert ready == (not ctx.get(dut.o.valid) or sink.ready), f"i.ready, cycle {cycle}"
        fire = source.holding and ready
        if fire:
            offsets.append(state["offset"])
        if changed:
            seen["with a beat" if fire else "while idle"] += 1
            seen["in the cycle after a beat"] += state["prev_fire"]
        state["prev_fire"] = fire

    async def testbench(ctx):
        await run_streams(ctx, [source], [sink], each_cycle=each_cycle, where="readout",
                          budget=cycle_budget(len(accs), idle=0.3, stall=0.3,
                                              latency=dut.LATENCY))

    simulate(dut, testbench)
    for n, (got, acc, off) in enumerate(zip(sink.got, accs, offsets)):
        ref = readout(np.array([acc]), exp_offset=off, flags=True)
        assert (got.value, got.overflow) == (int(ref.values.view(np.uint16)[0]),
                                             int(ref.overflow[0])), f"beat {n}, offset {off}"
    assert all(seen[k] for k in ("with a beat", "while idle", "in the cycle after a beat")), seen


def tile_result(a, a_format, codes, acc_width):
    """golden's sticky-saturating sum of one tile whose B rows were quantized in their own
    phases: ``codes`` is a list of (R4 codes of row k, phase of row k)."""
    av = operand_values(a, a_format)
    bv = np.stack([operand_values(code, "r4", phase=phase) for code, phase in codes])
    rows, cols = np.nonzero(np.ones((av.shape[0], bv.shape[1]), dtype=bool))
    top = 2 ** (acc_width - 1)
    acc, overflow = _sticky_walk(av, bv, rows, cols, -top, top - 1)
    return acc.reshape(av.shape[0], -1), overflow.reshape(av.shape[0], -1)


def test_backward_tile_controls_mid_tile(seed):
    """The end-to-end tile with every control moving during tiles: codes carry the phase they
    were made in into the array, ``exp_offset`` applies to the row leaving the array in that
    cycle, and the gradient unit's counters follow the same rules as on their own. 18-bit
    accumulators; the first tile (UINT4 15 x +Inf) saturates them whatever the controls do,
    so the accumulator and read-out flags are told apart."""
    rnd = random.Random(seed)
    rows, cols, acc_width = 2, 2, 18
    dut = BackwardTile(rows, cols, acc_width)
    tiles = [("uint4", 4)] + [(rnd.choice(("int4", "uint4")), rnd.randrange(1, 7))
                              for _ in range(8)]
    a_tiles = [np.full((rows, 4), 15)] + [
        np.array([[rnd.randrange(16) for _ in range(k)] for _ in range(rows)])
        for _, k in tiles[1:]]
    a_beats = [beat for (fmt, _), a in zip(tiles, a_tiles) for beat in pack_a(a, fmt)]
    g_beats = [[0x7C00] * cols] * 4 + random_beats(rnd, sum(k for _, k in tiles[1:]), cols)
    model = GradientControlModel(cols, dut._grad.AMAX_LATENCY)
    controls = Controls(dut, rnd)
    sources = [StreamSource(dut.i_a, a_beats, rnd=rnd, idle=0.3),
               StreamSource(dut.i_grad, g_beats, rnd=rnd, idle=0.3)]
    sink = StreamSink(dut.o_result, len(tiles) * rows, rnd=rnd, stall=0.3)
    codes, row_offsets = [], []
    state = {"offset": 0}
    array_o_c = dut._array.o_c
    codes_out = dut._grad.o_codes

    def each_cycle(ctx, cycle):
        controls.drive(ctx)
        if rnd.random() < PULSE:
            state["offset"] = rnd.randrange(-30, 1)
        ctx.set(dut.exp_offset, state["offset"])
        check_status(ctx, dut, model, cycle, amax=True)
        grad = sources[1]
        fire = grad.holding and ctx.get(dut.i_grad.ready)
        beat = g_beats[grad.sent] if fire else None
        result = model.quantize(beat, **controls.config) if fire else None
        if fire:
            codes.append((result.codes, controls.config["phase"]))
        if ctx.get(array_o_c.valid) and ctx.get(array_o_c.ready):
            row_offsets.append(state["offset"])
        controls.record(fire, result)
        model.clock(beat=beat, result=result,
                    delivered=ctx.get(codes_out.valid) and ctx.get(codes_out.ready),
                    stochastic=controls.config["stochastic"], **controls.now)

    async def testbench(ctx):
        budget = cycle_budget(len(a_beats) + len(sink.got) + len(tiles) * rows, idle=0.3,
                              stall=0.3, latency=len(tiles) * (rows + 4) + 8
                              + dut._grad.LATENCY + 7)
        await run_streams(ctx, sources, [sink], each_cycle=each_cycle, where="BackwardTile",
                          budget=budget)

    simulate(dut, testbench)
    start, rows_out = 0, []
    for (fmt, k), a in zip(tiles, a_tiles):
        acc, overflow = tile_result(a, fmt, codes[start:start + k], acc_width)
        rows_out += list(zip(acc, overflow))
        start += k
    for n, (got, (acc, acc_overflow), off) in enumerate(zip(sink.got, rows_out, row_offsets)):
        ref = readout(acc, exp_offset=off, flags=True)
        elems = [got.data[j] for j in range(cols)]
        assert [e.value for e in elems] == ref.values.view(np.uint16).tolist(), \
            f"row {n}, exp_offset {off}"
        assert [e.overflow for e in elems] == ref.overflow.tolist(), f"overflow, row {n}"
        assert [e.acc_overflow for e in elems] == acc_overflow.tolist(), \
            f"acc_overflow, row {n}"
        assert got.last == (n % rows == rows - 1), f"last of row {n}"
    assert rows_out[0][1].all(), "the first tile must saturate its accumulators"
    # About 30 gradient beats: the data relations are left to the 160-beat unit tests above
    # (one seed in about fifteen met no saturating beat under sat_clear here).
    controls.assert_covered(data_relations=False)


def seed_that_differs(x: int, g: int) -> int:
    """A seed whose first stochastic code of ``x`` differs from both the reset state's first
    and second draw, so that every wrong choice of state in a load cycle shows."""
    ref = GradientControlModel(1)
    first = ref.quantize([x], phase=0, scale_exp=g, stochastic=1).codes[0]
    ref.clock(beat=[x], result=ref.quantize([x], phase=0, scale_exp=g, stochastic=1),
              stochastic=1)
    second = ref.quantize([x], phase=0, scale_exp=g, stochastic=1).codes[0]
    for seed in range(2, 1000):
        ref.state = seed
        code = ref.quantize([x], phase=0, scale_exp=g, stochastic=1).codes[0]
        if code not in (first, second):
            return seed
    raise AssertionError("no seed found")


def test_same_cycle_rules_directed():
    """Each documented same-cycle rule once, deterministically (no seed can miss it), on a
    one-lane gradient unit with the output always ready: a beat in a ``seed_load`` cycle
    draws from the old state and the next from the new seed; a saturating beat in a
    ``sat_clear`` cycle counts; a beat in an ``amax_clear`` cycle belongs to the new tensor;
    a phase change applies to the beat of its own cycle and travels with its codes. The
    status columns are the rules' effect as seen the cycle after (an unpipelined unit);
    the pipelined unit shows amax ``AMAX_LATENCY`` - 1 cycles later, and counts a beat
    two cycles after it leaves (``LATENCY`` + 1 after the unpipelined unit, the output being
    always ready), skipping the beats in flight at a clear: the expected ``sat_count`` is
    derived from the rows."""
    x, g = 0x3E00, 0                     # 1.5: its stochastic code depends on the draw
    seed = seed_that_differs(x, g)
    # One row per cycle: beat (None: idle, junk payload), (phase, stochastic), pulses, and
    # the sat_count and amax expected after the cycle's clock edge.
    cycles = [
        (x, (0, 1), {"seed_load": 1, "seed": seed}, 0, 0x3E00),
        (x, (0, 1), {}, 0, 0x3E00),
        (0x7BFF, (0, 0), {"sat_clear": 1}, 1, 0x7BFF),
        (0x7BFF, (0, 0), {}, 2, 0x7BFF),
    ] + [(None, (0, 0), {}, 2, 0x7BFF)] * 7 + [
        (None, (0, 0), {"sat_clear": 1}, 0, 0x7BFF),
        (0x3C00, (0, 0), {"amax_clear": 1}, 0, 0x3C00),
        (0x3800, (0, 0), {}, 0, 0x3C00),
        (None, (0, 0), {"amax_clear": 1}, 0, 0),
        (x, (1, 0), {}, 0, 0x3E00),
        (x, (0, 0), {}, 0, 0x3E00),
        (0x7BFF, (0, 0), {}, 1, 0x7BFF),
        (None, (0, 0), {"sat_clear": 1}, 0, 0x7BFF),
    ] + [(None, (0, 0), {}, 0, 0x7BFF)] * 7
    h = np.array([x], np.uint16).view(np.float16)
    expected = [
        (r4_quantize(h, rounding="stochastic", seed=DEFAULT_SEED)[0], 0),   # the old state
        (r4_quantize(h, rounding="stochastic", seed=seed)[0], 0),           # the new seed
        (0b0111, 0), (0b0111, 0), (4, 0), (3, 0),
        (r4_quantize(h, phase=1)[0], 1), (r4_quantize(h, phase=0)[0], 0), (0b0111, 0),
    ]
    assert expected[-3][0] != expected[-2][0], "x must round differently in the two phases"
    dut = GradientUnit(1)
    rnd = random.Random(1)
    seen, status = [], []

    async def testbench(ctx):
        ctx.set(dut.o_codes.ready, 1)
        ctx.set(dut.scale_exp, g)
        for beat, (phase, stochastic), pulses, _, _ in cycles:
            now = {"seed_load": 0, "seed": 0, "sat_clear": 0, "amax_clear": 0, **pulses}
            for name, value in {"phase": phase, "stochastic": stochastic, **now}.items():
                ctx.set(getattr(dut, name), value)
            ctx.set(dut.i_grad.valid, beat is not None)
            ctx.set(dut.i_grad.payload, [rnd.getrandbits(16) if beat is None else beat])
            if ctx.get(dut.o_codes.valid):
                seen.append((ctx.get(dut.o_codes.payload.lanes[0].code),
                             ctx.get(dut.o_codes.payload.phase)))
            await ctx.tick()
            status.append((ctx.get(dut.sat_count), ctx.get(dut.amax)))

    simulate(dut, testbench)
    assert seen == expected
    lag, latency = dut.AMAX_LATENCY - 1, dut.LATENCY
    assert [a for _, a in status] == [0] * lag + [row[-1] for row in cycles[:-lag]]
    saturates = [int(beat == 0x7BFF) for beat, *_ in cycles]
    clears = [n for n, (_, _, pulses, *_) in enumerate(cycles) if pulses.get("sat_clear")]
    for edge, (sat, _) in enumerate(status):
        since = max([c for c in clears if c <= edge], default=0)
        assert sat == sum(saturates[since:max(edge - latency, since)]), f"sat_count, {edge}"
    sats = [sat for sat, _ in status]
    assert sats[3 + latency] == 1, "the beat of the clear cycle counts once it is out"
    assert sats[10] == 2, "both saturating beats counted before the next clear"
    assert sats[-1] == 0, "a beat in flight at a clear is not counted when it comes out"
