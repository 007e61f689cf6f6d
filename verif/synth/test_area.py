"""Area regression: every design with a baseline in synth/baselines must not grow past it.

Marker ``synth`` (``make synth-check``), never in the fast suite: it runs Yosys for each design
and family (area only, no place and route; cached in build/synth-cache like ``make synth``).
A design that *shrank* well below its baseline passes but says so, so the baseline can be
tightened with ``python -m synth.run --write-baselines``.
"""

import json
import warnings

import pytest

from hdl.gen import build
from synth.run import BASELINES, measure

PATHS = sorted(BASELINES.glob("*.json"))


@pytest.mark.synth
@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_area_within_baseline(path):
    base = json.loads(path.read_text())
    tolerance = base["tolerance"]
    families = [f for f in ("ice40", "ecp5") if f in base]
    assert families, f"{path} records no family"
    for family in families:
        vname, component = build(base["registry"], **base["params"])
        got = measure(vname, component, family, place=False, log=lambda s: None)
        for key in ("luts", "ff"):
            limit = base[family][key] * (1 + tolerance)
            assert got[key] <= limit, (
                f"{vname} on {family}: {got[key]} {key} > baseline {base[family][key]} "
                f"+ {tolerance:.0%}")
        if got["luts"] < base[family]["luts"] * (1 - tolerance):
            warnings.warn(f"{vname} on {family} shrank to {got['luts']} LUTs (baseline "
                          f"{base[family]['luts']}): update synth/baselines")


def test_baselines_exist():
    assert {p.stem for p in PATHS} >= {"pe", "fp16_fma_pe"}
