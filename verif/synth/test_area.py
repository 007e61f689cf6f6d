"""Area regression: every design with a baseline in synth/baselines must not grow past it.

Marker ``synth`` (``make synth-check``), never in the fast suite: it runs Yosys for each design
and family (area only, no place and route; cached in build/synth-cache like ``make synth``).
A design that *shrank* well below its baseline passes but says so, so the baseline can be
tightened with ``python -m synth.run --write-baselines``.

The per-design tolerance alone would let the 4-bit PE grow from 159 to 166 LUTs on iCE40,
where the FP16 / 4-bit ratio is 6.93x: so the ratio itself is asserted too, on the same
measurements, against the issue's target. It fails whichever side moved (the 4-bit PE grew
or the FP16 PE shrank).
"""

import functools
import json
import warnings

import pytest

from hdl.registry import build
from synth.flow import MEASURED, measure
from synth.report import BASELINE_DESIGNS, BASELINES, RATIO_TARGET

PATHS = sorted(BASELINES.glob("*.json"))


@functools.cache
def _area(registry: str, params: str, family: str) -> dict:
    """Yosys area of one registry design (through the synth cache); ``params`` as JSON."""
    vname, component = build(registry, **json.loads(params))
    return measure(vname, component, family, place=False, log=lambda s: None)


@pytest.mark.synth
@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_area_within_baseline(path):
    base = json.loads(path.read_text())
    tolerance = base["tolerance"]
    families = [f for f in MEASURED if f in base]
    assert families, f"{path} records no family"
    for family in families:
        got = _area(base["registry"], json.dumps(base["params"]), family)
        for key in ("luts", "ff"):
            limit = base[family][key] * (1 + tolerance)
            assert got[key] <= limit, (
                f"{base['design']} on {family}: {got[key]} {key} > baseline "
                f"{base[family][key]} + {tolerance:.0%}")
        if got["luts"] < base[family]["luts"] * (1 - tolerance):
            warnings.warn(f"{base['design']} on {family} shrank to {got['luts']} LUTs "
                          f"(baseline {base[family]['luts']}): update synth/baselines")


@pytest.mark.synth
@pytest.mark.parametrize("family", MEASURED)
def test_fp16_over_q4_pe_lut_ratio(family):
    fp16, q4 = (_area(BASELINE_DESIGNS[n][0], json.dumps(BASELINE_DESIGNS[n][1]), family)
                for n in ("fp16_fma_pe", "pe"))
    ratio = fp16["luts"] / q4["luts"]
    assert ratio >= RATIO_TARGET, (
        f"{family}: FP16 PE {fp16['luts']} LUTs / 4-bit PE {q4['luts']} LUTs = {ratio:.2f}x, "
        f"below the {RATIO_TARGET}x target")


def test_baselines_exist():
    assert {p.stem for p in PATHS} >= {"pe", "fp16_fma_pe"}
