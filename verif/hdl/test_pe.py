"""Amaranth-simulator tests of the processing element against golden.gemm (equality only)."""

from __future__ import annotations

import gc

import numpy as np
import pytest
from amaranth.hdl import Fragment
from amaranth.sim import Simulator

from golden.format_table import GEMM_MODES
from golden.gemm import ACC_WIDTH_MAX, ACC_WIDTH_MIN, gemm
from hdl.modes import mode_code
from hdl.pe import LATENCY, ProcessingElement
from verif.lib.budget import cycle_budget
from verif.lib.sim_streams import PERIOD, add_watchdog, simulate
from verif.lib.stimuli import clamped


def run(dut, driver, count, *, cycles):
    """Run ``driver`` and collect the first ``count`` drained tiles as (result, overflow).

    ``cycles``: how long ``driver`` drives; a PE that loses a tile fails once the run exceeds
    :func:`verif.lib.budget.cycle_budget` of that (plus the pipeline latency).
    """
    got = []

    async def monitor(ctx):
        while len(got) < count:
            _, _, done, raw = await ctx.tick().sample(dut.done, dut.drain.as_value())
            if done:
                got.append(clamped(raw, dut.acc_width))

    sim = Simulator(dut)
    sim.add_clock(PERIOD)
    sim.add_testbench(driver)
    sim.add_testbench(monitor)
    add_watchdog(sim, cycle_budget(cycles, latency=LATENCY), "ProcessingElement done",
                 lambda: {"tiles": (len(got), count)})
    sim.run()
    return got


def golden_products(a_format, b_format, phase):
    """(a, b, a*b) for all 256 code pairs, via golden.gemm on 1x1 tiles in one vectorised call."""
    a, b = np.meshgrid(np.arange(16), np.arange(16), indexing="ij")
    a, b = a.ravel(), b.ravel()
    # An outer product (K = 1): its diagonal holds the product of each pair.
    prod = np.diag(gemm(a[:, None], b[None, :], a_format=a_format, b_format=b_format, phase=phase))
    return a, b, prod


#: Pairs where operand isolation keeps a stale register, each right after a non-zero product:
#: both codes zero, A zero, B zero (the isolated register must not leak into the product).
ISOLATION_PAIRS = [(15, 7), (0, 0), (9, 9), (0, 0), (5, 3), (7, 0), (6, 6), (0, 5), (0, 0)]


@pytest.mark.parametrize("a_format,b_format,phase", GEMM_MODES)
def test_every_code_pair(a_format, b_format, phase):
    """All 256 operand pairs in each mode, then :data:`ISOLATION_PAIRS`: one K = 1 tile per
    pair, back to back."""
    dut = ProcessingElement(acc_width=32)
    a, b, expected = golden_products(a_format, b_format, phase)
    extra_a, extra_b = np.array(ISOLATION_PAIRS).T
    a, b = np.concatenate([a, extra_a]), np.concatenate([b, extra_b])
    expected = np.concatenate([expected, np.diag(gemm(
        extra_a[:, None], extra_b[None, :], a_format=a_format, b_format=b_format, phase=phase))])

    async def driver(ctx):
        ctx.set(dut.mode.as_value(), mode_code(a_format, b_format, phase))
        ctx.set(dut.en, 1)
        ctx.set(dut.last, 1)
        for x, y in zip(a, b):
            ctx.set(dut.a, int(x))
            ctx.set(dut.b, int(y))
            await ctx.tick()
        ctx.set(dut.en, 0)

    got = run(dut, driver, len(a), cycles=len(a))
    assert [g[0] for g in got] == expected.tolist()
    assert not any(g[1] for g in got)


def run_tiles(dut, tiles):
    """Stream ``tiles`` of (mode, a_codes, b_codes, gaps) back to back; (acc, overflow) each."""

    async def driver(ctx):
        for mode, a_codes, b_codes, gaps in tiles:
            ctx.set(dut.mode.as_value(), mode)
            for k, (x, y) in enumerate(zip(a_codes, b_codes)):
                ctx.set(dut.en, 0)
                for _ in range(gaps[k]):
                    await ctx.tick()
                ctx.set(dut.en, 1)
                ctx.set(dut.last, k == len(a_codes) - 1)
                ctx.set(dut.a, int(x))
                ctx.set(dut.b, int(y))
                await ctx.tick()
        ctx.set(dut.en, 0)

    return run(dut, driver, len(tiles), cycles=sum(len(t[1]) + sum(t[3]) for t in tiles))


#: A tile that tells sticky saturation from a clamp after every add at 18 bits (UINT4 x R4):
#: partial sums 122880, 245760 (above 2^17 - 1: the first overflow), 122880, 0, -122880. Sticky
#: gives the top rail; clamping every add would end on the bottom rail.
STICKY_A = np.full(5, 15)
STICKY_B = np.array([0b0111, 0b0111, 0b1111, 0b1111, 0b1111])


@pytest.mark.parametrize("acc_width", [18, 19, 21, 32])
def test_random_tiles_saturate_like_golden(acc_width, seed):
    """Back-to-back tiles of random K and mode; biased operands so narrow accumulators clip.

    18 and 19 bits are the widths whose accumulator register is tightest (hdl.pe.register_width).
    """
    rng = np.random.default_rng(seed)
    dut = ProcessingElement(acc_width=acc_width)
    tiles, expected = [], []
    for t in range(12):
        af, bf, p = GEMM_MODES[rng.integers(len(GEMM_MODES))] if t else ("uint4", "r4", 0)
        k = int(rng.integers(1, 40)) if t else len(STICKY_A)
        # Mostly one sign so partial sums march towards a limit, with some of the other sign.
        a = np.where(rng.random(k) < 0.8, rng.choice([7, 15, 0b1000], k), rng.integers(0, 16, k))
        b = np.where(rng.random(k) < 0.8, rng.choice([0b0111, 0b1111], k, p=[2 / 3, 1 / 3]),
                     rng.integers(0, 16, k))
        if not t:
            a, b = STICKY_A, STICKY_B
        gaps = rng.integers(0, 3, k) * (rng.random(k) < 0.3)
        tiles.append((mode_code(af, bf, p), a, b, gaps))
        res = gemm(a[None, :], b[:, None], a_format=af, b_format=bf, phase=p,
                   acc_width=acc_width, flags=True)
        expected.append((int(res.acc[0, 0]), int(res.overflow[0, 0])))
    assert run_tiles(dut, tiles) == expected
    if acc_width == 18:
        assert expected[0] == (2 ** 17 - 1, 1), "sticky saturation keeps the first overflow's rail"


@pytest.mark.parametrize("acc_width", [18, 19, 20, 24])
def test_overflow_on_the_last_add_only(acc_width):
    """Directed: tiles whose partial sums first leave the range on their last add, upwards and
    downwards (largest UINT4 x R4 products), then a tile that ends just inside the range.

    Random tiles reach this corner only with some seeds; the flag and the rail of the last
    add are drained straight from the adder, so they need a case of their own.
    """
    dut = ProcessingElement(acc_width=acc_width)
    product = 15 * 2 ** 13                        # UINT4 15 x R4 0b0111, phase 0
    inside = (2 ** (acc_width - 1) - 1) // product
    mode = mode_code("uint4", "r4", 0)
    tiles, expected = [], []
    for b_code, k in ((0b0111, inside + 1), (0b1111, inside + 1), (0b0111, inside)):
        a, b = np.full(k, 15), np.full(k, b_code)
        tiles.append((mode, a, b, np.zeros(k, dtype=int)))
        res = gemm(a[None, :], b[:, None], a_format="uint4", b_format="r4",
                   acc_width=acc_width, flags=True)
        expected.append((int(res.acc[0, 0]), int(res.overflow[0, 0])))
    top = 2 ** (acc_width - 1)
    assert expected == [(top - 1, 1), (-top, 1), (inside * product, 0)]
    assert run_tiles(dut, tiles) == expected


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_parameters_validated():
    with pytest.raises(TypeError, match="acc_width must be an integer"):
        ProcessingElement(acc_width=32.0)
    with pytest.raises(ValueError, match="acc_width must be in"):
        ProcessingElement(acc_width=ACC_WIDTH_MIN - 1)
    with pytest.raises(ValueError, match="acc_width must be in"):
        ProcessingElement(acc_width=ACC_WIDTH_MAX + 1)
    gc.collect()        # the refused objects warn now, under this test's filter
    dut = ProcessingElement(acc_width=24)
    assert dut.acc_width == 24
    Fragment.get(dut, None)


def test_latency():
    """A one-product tile whose ``en``/``last`` are sampled at the end of cycle 0 shows
    ``done`` (with its product, 3 * 5 in INT4 x INT4) from cycle ``LATENCY`` and not before."""
    dut = ProcessingElement(32)
    seen = []

    async def testbench(ctx):
        ctx.set(dut.mode.as_value(), mode_code("int4", "int4", 0))
        ctx.set(dut.a, 3)
        ctx.set(dut.b, 5)
        ctx.set(dut.en, 1)
        ctx.set(dut.last, 1)
        for _ in range(dut.LATENCY + 2):
            seen.append((ctx.get(dut.done), clamped(ctx.get(dut.drain.as_value()), 32)))
            await ctx.tick()
            ctx.set(dut.en, 0)
            ctx.set(dut.last, 0)

    simulate(dut, testbench)
    done = [cycle for cycle, (d, _) in enumerate(seen) if d]
    assert done == [dut.LATENCY], f"done in cycles {done}, LATENCY {dut.LATENCY}"
    assert seen[dut.LATENCY][1] == (15, 0), "the drain is 3 * 5, no overflow"
    assert dut.LATENCY == LATENCY == 3, "ProcessingElement.LATENCY differs from the docs"
