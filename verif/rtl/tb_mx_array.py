"""cocotb testbench of the generated MXFP4- or NVFP4-array Verilog, checked against
golden.gemm_mx or golden.gemm_nv.

Environment: ``FAMILY`` (``MXFP4``, the default, or ``NVFP4``: hdl.mx_array's family names),
``ROWS``, ``COLS``, ``K_MAX``, ``FRAC_BITS`` (the array's parameters), ``SEED``, ``TILES``
(random tiles back to back, 1..``K_MAX`` / block blocks each), ``NAN`` (probability of a NaN
scale), ``STALL`` (probability of an idle input cycle, which carries a junk payload, and of
withholding ``o_c.ready``).

The tiles, their beats and anchors (verif.lib.mx_tiles, the family's format) and the golden
results are computed in the testbench. Every ``ready`` and ``valid`` of the array comes from
registers, so the streams run with ``registered=True``.
"""

from __future__ import annotations

import os
import random

import cocotb
import numpy as np

from verif.lib.budget import cycle_budget
from verif.lib.cocotb_streams import StreamSink, StreamSource, reset, run_streams
from verif.lib.mx_tiles import FORMATS, check_tiles, random_tile, tile_beats

FMT = FORMATS[os.environ.get("FAMILY", "MXFP4")]
ROWS = int(os.environ.get("ROWS", "2"))
COLS = int(os.environ.get("COLS", "2"))
K_MAX = int(os.environ.get("K_MAX", "128"))
FRAC_BITS = int(os.environ.get("FRAC_BITS", "24"))
ACC_WIDTH = int(os.environ["ACC_WIDTH"])
SEED = int(os.environ.get("SEED", "1"))
TILES = int(os.environ.get("TILES", "20"))
NAN = float(os.environ.get("NAN", "0.02"))
STALL = float(os.environ.get("STALL", "0.3"))


@cocotb.test()
async def random_tiles(dut):
    """TILES random tiles back to back with gaps, junk and backpressure, against golden."""
    family = FMT.family
    dut._log.info(f"SEED={SEED} {family.name} {ROWS}x{COLS} k_max={K_MAX} "
                  f"frac_bits={FRAC_BITS} tiles={TILES}")
    rng, rnd = np.random.default_rng(SEED), random.Random(SEED)
    tiles = [random_tile(rng, ROWS, COLS, int(rng.integers(1, K_MAX // family.block + 1)),
                         nan=NAN, fmt=FMT) for _ in range(TILES)]
    a_beats, b_beats, anchors = tile_beats(tiles, FMT)
    await reset(dut, idle=("i_a__valid", "i_b__valid", "i_anchor__valid", "o_c__ready"))
    sink = StreamSink(dut, "o_c", TILES * ROWS, rnd=rnd, stall=STALL)
    cycles = await run_streams(
        dut, [StreamSource(dut, "i_a", a_beats, rnd=rnd, idle=STALL),
              StreamSource(dut, "i_b", b_beats, rnd=rnd, idle=STALL),
              StreamSource(dut, "i_anchor", anchors, rnd=rnd, idle=STALL)], [sink],
        where=f"SEED={SEED}: {family.name} array o_c", registered=True,
        budget=cycle_budget(len(a_beats) + TILES * ROWS, idle=STALL, stall=STALL,
                            latency=TILES * (ROWS + family.latency)))
    check_tiles(sink.got, tiles, rows=ROWS, cols=COLS, acc_width=ACC_WIDTH,
                frac_bits=FRAC_BITS, what=f"SEED={SEED}", fmt=FMT)
    dut._log.info(f"{TILES} tiles ({len(a_beats)} beats) equal to golden in {cycles} cycles")
