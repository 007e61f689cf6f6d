# amaranth: UnusedElaboratable=no
"""A backward tile through the composed top :class:`hdl.training_units.TrainingUnits`.

The backward GEMM of a training step, as the host runs it on the composed units: FP16
gradient rows into the gradient unit (``i_grad``), its R4 codes relayed to the array's
operand B (``o_codes`` -> ``i_b``, with the phase they were made in) while operand A streams
in, the array's result rows relayed to the read-out (``o_c`` -> ``i_acc``), FP16 rows out on
``o_fp16``. Every stream, relays included, runs with random idle cycles (junk payload) and
random backpressure, all three units at once. Compared for equality with golden: the codes
with ``r4_quantize`` over the whole dY stream (one draw per element, row-major), the
accumulators with ``gemm`` per tile, the FP16 rows with ``readout`` at ``-7 - g``, and the
gradient unit's status (amax, next exponent, saturation count) once it has settled.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from golden.formats import grad_scale_exp, r4_quantize
from golden.gemm import gemm, readout
from hdl.amax import amax_latency
from sim.array_payload import gemm_beats, pack_a, pack_b
from hdl.training_units import TrainingUnits
from verif.lib.budget import cycle_budget
from verif.lib.sim_streams import StreamSink, StreamSource, run_streams, simulate

TILES, K = 4, 6


def gradients(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """dY of every scale, a few saturating after scaling, as FP16 bit patterns."""
    x = rng.standard_normal((rows, cols)) * 2.0 ** rng.integers(-8, 4, (rows, cols))
    x[rng.random((rows, cols)) < 0.05] = 300.0
    x[1, 0], x[-2, -1] = 300.0, -1000.0
    return x.astype(np.float16).view(np.uint16)


@pytest.mark.parametrize("a_format,phase,stochastic", [("uint4", 0, 1), ("int4", 1, 0)])
def test_backward_tile_through_training_units(a_format, phase, stochastic, seed):
    rnd = random.Random(seed)
    rng = np.random.default_rng(seed)
    rows, cols = 2, 3
    dut = TrainingUnits(rows, cols, acc_width=32)
    scale_exp = 2
    dy = gradients(rng, TILES * K, cols)
    a_tiles = [rng.integers(0, 16, (rows, K)) for _ in range(TILES)]
    rounding = "stochastic" if stochastic else "nearest"
    ref = r4_quantize(dy.view(np.float16), phase=phase, scale_exp=scale_exp, rounding=rounding,
                      flags=True)

    grad = StreamSource(dut.i_grad, [[int(v) for v in row] for row in dy], rnd=rnd, idle=0.3)
    a = StreamSource(dut.i_a, [beat for t in a_tiles for beat in pack_a(t, a_format)], rnd=rnd,
               idle=0.3)
    b = StreamSource(dut.i_b, [], rnd=rnd, idle=0.3)                 # fed by the codes relay
    acc = StreamSource(dut.i_acc, [], rnd=rnd, idle=0.3)             # fed by the results relay
    codes = StreamSink(dut.o_codes, TILES * K, rnd=rnd, stall=0.3)
    results = StreamSink(dut.o_c, TILES * rows, rnd=rnd, stall=0.3)
    fp16 = StreamSink(dut.o_fp16, TILES * rows, rnd=rnd, stall=0.3)

    def relay(ctx, cycle):
        ctx.set(dut.phase, phase)
        ctx.set(dut.scale_exp, scale_exp)
        ctx.set(dut.stochastic, stochastic)
        ctx.set(dut.exp_offset, -7 - scale_exp)
        for got in codes.got[len(b.beats):]:
            row = np.array([[got.lanes[k].code for k in range(cols)]])
            b.beats += pack_b(row, "r4", got.phase)
        for got in results.got[len(acc.beats):]:
            acc.beats.append([got.data[j].acc for j in range(cols)])

    status = {}

    async def testbench(ctx):
        budget = cycle_budget(4 * TILES * K, idle=0.3, stall=0.3, latency=TILES * (rows + 4) + 40)
        await run_streams(ctx, [grad, a, b, acc], [codes, results, fp16], each_cycle=relay,
                          where="TrainingUnits backward tile", budget=budget)
        await ctx.tick().repeat(amax_latency(cols))   # the status settles
        status.update(amax=ctx.get(dut.amax), next_scale_exp=ctx.get(dut.next_scale_exp),
                      sat_count=ctx.get(dut.sat_count), nonfinite=ctx.get(dut.nonfinite))

    simulate(dut, testbench)

    got_codes = np.array([[c.lanes[k].code for k in range(cols)] for c in codes.got])
    assert np.array_equal(got_codes, ref.codes), "codes differ from r4_quantize"
    assert all(c.phase == phase for c in codes.got), "codes carry another phase"
    for t, a_tile in enumerate(a_tiles):
        b_tile = ref.codes[t * K:(t + 1) * K]
        want = gemm(a_tile, b_tile, a_format=a_format, b_format="r4", phase=phase)
        got = np.array([[r.data[j].acc for j in range(cols)]
                        for r in results.got[t * rows:(t + 1) * rows]])
        assert np.array_equal(got, want), f"tile {t}: accumulators differ from gemm"
        fp = readout(want, exp_offset=-7 - scale_exp, flags=True)
        out = fp16.got[t * rows:(t + 1) * rows]
        assert [[o[j].value for j in range(cols)] for o in out] == \
            fp.values.view(np.uint16).tolist(), f"tile {t}: FP16 rows differ from readout"
        assert [[o[j].overflow for j in range(cols)] for o in out] == \
            fp.overflow.astype(int).tolist(), f"tile {t}: overflow flags differ"
    x = dy.view(np.float16)
    assert status == {"amax": int(np.abs(x).max().view(np.uint16)),
                      "next_scale_exp": grad_scale_exp(x),
                      "sat_count": int(ref.saturated.sum()), "nonfinite": 0}
    assert ref.saturated.any(), "the test must saturate some elements"


def test_latency_per_output(seed):
    """All three paths at full rate at once, every output ready: ``o_codes`` and ``o_fp16``
    carry each beat ``LATENCY[name]`` cycles after its handshake on ``i_grad`` / ``i_acc``,
    and a tile's first row is on ``o_c`` ``LATENCY["o_c"]`` cycles after its last operand
    beats were accepted."""
    rnd = random.Random(seed)
    rng = np.random.default_rng(seed)
    rows, cols, k = 2, 3, 4
    dut = TrainingUnits(rows, cols, acc_width=32)
    beats = gemm_beats(rng.integers(0, 16, (rows, k)), rng.integers(0, 16, (k, cols)),
                       rows=rows, cols=cols, a_format="uint4", b_format="r4")
    grads = [[rnd.getrandbits(16) for _ in range(cols)] for _ in range(20)]
    accs = [[rnd.randrange(-2 ** 31, 2 ** 31) for _ in range(cols)] for _ in range(20)]
    a, b = StreamSource(dut.i_a, beats.a, rnd=rnd), StreamSource(dut.i_b, beats.b, rnd=rnd)
    grad = StreamSource(dut.i_grad, grads, rnd=rnd)
    acc = StreamSource(dut.i_acc, accs, rnd=rnd)
    results = StreamSink(dut.o_c, rows, rnd=rnd)
    codes = StreamSink(dut.o_codes, len(grads), rnd=rnd)
    fp16 = StreamSink(dut.o_fp16, len(accs), rnd=rnd)

    async def testbench(ctx):
        await run_streams(ctx, [a, b, grad, acc], [results, codes, fp16],
                          where="TrainingUnits at full rate", budget=cycle_budget(40, latency=16))

    simulate(dut, testbench)
    latency = dut.LATENCY
    assert codes.cycles == [c + latency["o_codes"] for c in grad.cycles]
    assert fp16.cycles == [c + latency["o_fp16"] for c in acc.cycles]
    assert results.cycles[0] - max(a.cycles[-1], b.cycles[-1]) == latency["o_c"]
    assert dict(dut.LATENCY) == {"o_c": 5, "o_codes": 6, "o_fp16": 8}, \
        "TrainingUnits.LATENCY differs from the docs"
