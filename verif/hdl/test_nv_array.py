# amaranth: UnusedElaboratable=no
"""Amaranth-simulator tests of the NVFP4 array against golden.gemm_nv (equality only).

Random E4M3-scaled tiles back to back on 1x1, 2x3 and 3x2 arrays with idle inputs (junk
payloads), output backpressure, NaN scales (0x7F, 0xFF), zero blocks and scales, K from 16 to
k_max; a narrow window; the host's anchors and exponents against golden; the latency and the
no-stall throughput; refused parameters. The array's wiring is the MXFP4 array's
(hdl.mx_array.BlockOuterProductArray), whose malformed-tile test covers the framing.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from golden.gemm_nv import gemm_nvfp4
from golden.mx import NVFP4_BLOCK
from hdl.mx_array import NV_LATENCY, NvOuterProductArray
from hdl.nv_pe import nv_result_exponent
from sim.mx_array_payload import nv_tile_anchors
from verif.lib.block_array_sim import run_tiles
from verif.lib.mx_tiles import NV, random_tile
from verif.lib.nv_dots import anchor_of


def nv_tiles(rng, rows, cols, count, *, max_blocks=4, nan=None, spread=None):
    """``count`` random NVFP4 tiles of 1..``max_blocks`` blocks, NaN scales with probability
    ``nan`` (default 5 % in every other tile), zero blocks in every third tile."""
    return [random_tile(rng, rows, cols, int(rng.integers(1, max_blocks + 1)), fmt=NV,
                        nan=0.05 * (t % 2) if nan is None else nan, zero=0.3 * (t % 3 == 0),
                        spread=spread)
            for t in range(count)]


@pytest.mark.parametrize("rows,cols,count", [(1, 1, 12), (2, 3, 8), (3, 2, 8)])
def test_random_tiles_with_stalls(rows, cols, count, seed):
    """Tiles of 1..8 blocks (K 16..128), exponent fields spread over 0..14 binades."""
    rng, rnd = np.random.default_rng(seed), random.Random(seed)
    run_tiles(NvOuterProductArray(rows, cols, k_max=128), nv_tiles(rng, rows, cols, count,
                                                                    max_blocks=8),
              rnd=rnd, stall=0.3, what=f"seed {seed}, {rows}x{cols}")


def test_nan_scales_and_narrow_window(seed):
    """10 % NaN scales in A and B (a third of the outputs NaN), exponent fields spread over
    14 binades at frac_bits 4, so that a fifth of the outputs lose bits."""
    rng, rnd = np.random.default_rng(seed), random.Random(seed)
    tiles = nv_tiles(rng, 2, 3, 10, max_blocks=3, nan=0.1, spread=14)
    run_tiles(NvOuterProductArray(2, 3, k_max=64, frac_bits=4), tiles, rnd=rnd, stall=0.3,
              what=f"seed {seed}, NaN")


def test_several_k_up_to_k_max(seed):
    """K = 16, 32, 48, 80 and k_max = 256 on one array, back to back."""
    rng, rnd = np.random.default_rng(seed), random.Random(seed)
    tiles = [random_tile(rng, 2, 2, blocks, fmt=NV, nan=0.02, zero=0.1)
             for blocks in (1, 2, 3, 5, 16, 1)]
    run_tiles(NvOuterProductArray(2, 2, k_max=256), tiles, rnd=rnd, stall=0.2,
              what=f"seed {seed}, several K")


def test_host_anchors_and_exponents(seed):
    """The host's anchors equal the PE tests' per-dot anchor, and the result exponent they
    give is golden's ``exp`` on every output that is not NaN."""
    rng = np.random.default_rng(seed)
    for a, sa, b, sb in nv_tiles(rng, 3, 4, 20, max_blocks=6, nan=0.1):
        anchors = nv_tile_anchors(sa, sb)
        assert anchors.tolist() == [[anchor_of(sa[i], sb[:, j]) for j in range(4)]
                                    for i in range(3)], f"seed {seed}"
        want = gemm_nvfp4(a, sa, b, sb)
        got = nv_result_exponent(anchors, NvOuterProductArray().frac_bits)
        np.testing.assert_array_equal(np.where(want.nan, 0, got), want.exp,
                                      err_msg=f"seed {seed}")


def test_latency_and_back_to_back_tiles():
    """No stall: one beat per cycle with no bubble between tiles, and a tile's first row on
    ``o_c`` LATENCY cycles after its last ``i_a`` handshake."""
    rng = np.random.default_rng(4)
    tiles = [random_tile(rng, 3, 2, blocks, fmt=NV) for blocks in (1, 2, 1, 1)]
    dut = NvOuterProductArray(3, 2, k_max=64)
    (sent, _, _), taken = run_tiles(dut, tiles, rnd=random.Random(4), stall=0.0,
                                    what="no stall")
    assert sent == list(range(len(sent)))
    lasts = np.cumsum([a.shape[1] for a, *_ in tiles]) - 1
    assert taken[::3] == [sent[i] + NV_LATENCY for i in lasts]
    assert len(sent) == 5 * NVFP4_BLOCK
    assert dut.LATENCY == NV_LATENCY == 9


@pytest.mark.parametrize("kwargs,error,message", [
    ({"rows": 0}, TypeError, "rows must be a positive integer, not 0"),
    ({"cols": 2.0}, TypeError, "cols must be a positive integer, not 2.0"),
    ({"k_max": 40}, ValueError, "k_max must be a positive multiple of 16"),
    ({"k_max": 0}, TypeError, "k_max must be a positive integer, not 0"),
    ({"frac_bits": 34}, ValueError, "frac_bits must be in 0..33, not 34"),
])
def test_bad_parameters_are_refused(kwargs, error, message):
    with pytest.raises(error, match=message):
        NvOuterProductArray(**kwargs)


def test_parameters_exposed():
    dut = NvOuterProductArray(3, 5, k_max=48, frac_bits=8)
    assert (dut.rows, dut.cols, dut.k_max, dut.frac_bits) == (3, 5, 48, 8)
    assert dut.acc_width == NvOuterProductArray(1, 1, 48, 8).acc_width
    default = NvOuterProductArray()
    assert (default.acc_width, default.frac_bits, default.LATENCY) == (56, 28, 9)
    assert len(default.i_anchor.payload.as_value()) == 4 * 4 * 5


def test_the_generic_array_needs_a_family():
    from hdl.mx_array import BlockOuterProductArray
    with pytest.raises(TypeError, match="through a subclass that sets FAMILY"):
        BlockOuterProductArray(2, 2, 64, 8)
