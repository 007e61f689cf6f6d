"""The FP baselines' PE shells (hdl/float_mac.py) as their docstrings state them."""

from __future__ import annotations

import pytest

from hdl.fp8_mac import Fp8MacPE
from hdl.fp16_fma import Fp16FmaPE
from verif.lib.sim_streams import tile_latencies


@pytest.mark.parametrize("pe,one,latency", [(Fp16FmaPE, 0x3C00, 2), (Fp8MacPE, 0x38, 2)],
                         ids=["fp16", "fp8"])
def test_pe_latency(pe, one, latency, seed):
    """Tiles of 1, 3 and 2 beats of 1.0 x 1.0 at full rate: each result ``LATENCY`` cycles
    after the handshake of its tile's ``last`` beat, and LATENCY is the documented value."""
    dut = pe()
    beats = [{"a": one, "b": one, "first": k == 0, "last": k == n - 1}
             for n in (1, 3, 2) for k in range(n)]
    assert tile_latencies(dut, beats, seed) == [dut.LATENCY] * 3
    assert dut.LATENCY == latency, f"{pe.__name__}.LATENCY differs from the docs"
