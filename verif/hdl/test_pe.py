"""Amaranth-simulator tests of the processing element against golden.gemm (equality only)."""

from __future__ import annotations

import gc

import numpy as np
import pytest
from amaranth.hdl import Fragment
from amaranth.sim import Simulator

from golden.format_table import GEMM_MODES
from golden.gemm import ACC_WIDTH_MAX, ACC_WIDTH_MIN, gemm
from hdl.modes import INT_GEMM_MODES, IntMode, int_mode_code, mode_code
from hdl.pe import LATENCY, Int4ProcessingElement, ProcessingElement
from verif.lib.budget import cycle_budget
from verif.lib.sim_streams import PERIOD, add_watchdog, simulate
from verif.lib.stimuli import clamped, pe_modes


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
    add_watchdog(sim, cycle_budget(cycles, latency=dut.LATENCY), "ProcessingElement done",
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


#: Every mode of each PE: the full PE's eight, and the INT4-only PE's four integer ones.
PE_MODES = [(True, *mode) for mode in GEMM_MODES] + [(False, *mode) for mode in INT_GEMM_MODES]


@pytest.mark.parametrize("r4,a_format,b_format,phase", PE_MODES)
def test_every_code_pair(r4, a_format, b_format, phase):
    """All 256 operand pairs in each mode, then :data:`ISOLATION_PAIRS`: one K = 1 tile per
    pair, back to back."""
    dut = ProcessingElement(acc_width=32, r4=r4)
    code = pe_modes(r4)[1]
    a, b, expected = golden_products(a_format, b_format, phase)
    extra_a, extra_b = np.array(ISOLATION_PAIRS).T
    a, b = np.concatenate([a, extra_a]), np.concatenate([b, extra_b])
    expected = np.concatenate([expected, np.diag(gemm(
        extra_a[:, None], extra_b[None, :], a_format=a_format, b_format=b_format, phase=phase))])

    async def driver(ctx):
        ctx.set(dut.mode.as_value(), code(a_format, b_format, phase))
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


@pytest.mark.parametrize("r4,acc_width", [(True, 18), (True, 19), (True, 21), (True, 32),
                                          (False, 18), (False, 32)])
def test_random_tiles_saturate_like_golden(r4, acc_width, seed):
    """Back-to-back tiles of random K and mode; biased operands so narrow accumulators clip.

    18 and 19 bits are the widths whose accumulator register is tightest (hdl.pe.register_width).
    The INT4-only PE gets its integer modes and no sticky tile (its products are too small to
    clip within 40 beats: test_overflow_on_the_last_add_only takes it to the rails).
    """
    rng = np.random.default_rng(seed)
    dut = ProcessingElement(acc_width=acc_width, r4=r4)
    modes, code = pe_modes(r4)
    tiles, expected = [], []
    for t in range(12):
        sticky = r4 and not t
        af, bf, p = ("uint4", "r4", 0) if sticky else modes[rng.integers(len(modes))]
        k = len(STICKY_A) if sticky else int(rng.integers(1, 40))
        # Mostly one sign so partial sums march towards a limit, with some of the other sign.
        a = np.where(rng.random(k) < 0.8, rng.choice([7, 15, 0b1000], k), rng.integers(0, 16, k))
        b = np.where(rng.random(k) < 0.8, rng.choice([0b0111, 0b1111], k, p=[2 / 3, 1 / 3]),
                     rng.integers(0, 16, k))
        if sticky:
            a, b = STICKY_A, STICKY_B
        gaps = rng.integers(0, 3, k) * (rng.random(k) < 0.3)
        tiles.append((code(af, bf, p), a, b, gaps))
        res = gemm(a[None, :], b[:, None], a_format=af, b_format=bf, phase=p,
                   acc_width=acc_width, flags=True)
        expected.append((int(res.acc[0, 0]), int(res.overflow[0, 0])))
    assert run_tiles(dut, tiles) == expected
    if r4 and acc_width == 18:
        assert expected[0] == (2 ** 17 - 1, 1), "sticky saturation keeps the first overflow's rail"


#: Per PE (R4 or not): a mode and its largest products in each direction, as (a_format,
#: b_format, A code, (B code, product) upwards, (B code, product) downwards).
LARGEST_PRODUCTS = {True: ("uint4", "r4", 15, (0b0111, 15 * 2 ** 13), (0b1111, -15 * 2 ** 13)),
                    False: ("uint4", "int4", 15, (0b0111, 105), (0b1000, -120))}


@pytest.mark.parametrize("r4,acc_width", [(True, 18), (True, 19), (True, 20), (True, 24),
                                          (False, 18), (False, 19)])
def test_overflow_on_the_last_add_only(r4, acc_width):
    """Directed: tiles whose partial sums first leave the range on their last add, upwards and
    downwards (largest products: UINT4 x R4, or UINT4 x INT4 on the INT4-only PE), then a tile
    that ends just inside the range.

    Random tiles reach this corner only with some seeds; the flag and the rail of the last
    add are drained straight from the adder, so they need a case of their own.
    """
    dut = ProcessingElement(acc_width=acc_width, r4=r4)
    af, bf, a_code, up, down = LARGEST_PRODUCTS[r4]
    top = 2 ** (acc_width - 1)
    mode = pe_modes(r4)[1](af, bf, 0)
    tiles, expected = [], []
    inside = {product: (top - 1) // abs(product) for _, product in (up, down)}
    for (b_code, product), extra in ((up, 1), (down, 1), (up, 0)):
        k = inside[product] + extra
        a, b = np.full(k, a_code), np.full(k, b_code)
        tiles.append((mode, a, b, np.zeros(k, dtype=int)))
        res = gemm(a[None, :], b[:, None], a_format=af, b_format=bf,
                   acc_width=acc_width, flags=True)
        expected.append((int(res.acc[0, 0]), int(res.overflow[0, 0])))
    assert expected == [(top - 1, 1), (-top, 1), (inside[up[1]] * up[1], 0)]
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


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_int4_only_pe_cannot_be_asked_for_r4():
    """The INT4-only PE's contract is its port: :data:`hdl.modes.IntMode` has a 1-bit B format
    (INT4, UINT4) and no phase, so no R4 mode can be driven; packing one is a ValueError."""
    dut = Int4ProcessingElement(acc_width=32)
    assert not dut.r4 and dut.LATENCY == LATENCY - 1
    assert dut.signature.members["mode"].shape is IntMode
    assert set(IntMode.members) == {"a_format", "b_format"} and IntMode.size == 2
    with pytest.raises(ValueError, match="integer operands only"):
        int_mode_code("uint4", "r4", 0)
    # On the integer modes the two PEs' mode codes agree bit for bit (same format codes).
    for af, bf, p in INT_GEMM_MODES:
        assert int_mode_code(af, bf, p) == mode_code(af, bf, p)
    with pytest.raises(TypeError, match="r4 must be True or False"):
        ProcessingElement(acc_width=32, r4=0)
    gc.collect()        # the refused object warns now, under this test's filter
    Fragment.get(dut, None)
