"""``make synth``: area and Fmax of the 4-bit designs and the FP16 baseline, side by side.

Every design of the registry (:mod:`hdl.registry`) whose flows include ``synth`` is measured
the same way on both families; this module is the command line and the order of the runs.
The parts: :mod:`synth.wrapper` (the I/O wrapper every design is placed in), :mod:`synth.flow`
(Yosys and nextpnr, what is counted, failure classification), :mod:`synth.cache` (results per
design, family and flow under ``build/synth-cache``), :mod:`synth.search` (the largest array
that places), :mod:`synth.report` (ratios, Markdown, plot, baselines). docs/synth.md has the
method and the figures.
"""

import argparse
import importlib
import json
import subprocess
import sys
import time
from pathlib import Path

from golden.cli import output_dir
from hdl import registry
from synth.flow import FAMILIES, LARGER, MEASURED, REPO, measure, tool_versions
from synth.report import (equal_throughput, markdown, plot, plot_throughput, ratios_of,
                          write_baselines)
from synth.search import (ACC_WIDTH, ARRAY, BLOCK_ARRAYS, array, array_name, largest_array,
                          largest_square)

#: Registry entries measured as they are (no size parameter).
FIXED_DESIGNS = tuple(d.name for d in registry.designs("synth") if not d.sized)
#: Arrays always measured; the largest that fits each device is added.
ARRAY_SIZES = (2, 4, 8)
#: Sized registry entries other than the array (the composed top): measured at the largest
#: square size that places, and at :data:`COMPOSED_SIDE` on the larger part if that is less.
COMPOSED = tuple(d.name for d in registry.designs("synth")
                 if d.sized and d.name not in (ARRAY, *BLOCK_ARRAYS))
#: Block-scaled FP4 arrays measured (no device search: each MXFP4 PE is about 2.7x the 4-bit
#: one, each NVFP4 PE about 5x), at this side.
BLOCK_ARRAY_SIZES = (4,)
#: The size the issue asks the composed top at (8x8: the array size of the training runs).
COMPOSED_SIDE = 8


def _designs(log=print):
    """(Verilog name, factory) of the fixed designs whose modules exist yet."""
    out = []
    for name in FIXED_DESIGNS:
        try:
            importlib.import_module(registry.get(name).module)
        except ImportError as exc:
            log(f"synth: skipping {name}: {exc}")
            continue
        out.append((name, lambda name=name: registry.build(name, acc_width=ACC_WIDTH)[1]))
    return out


def _composed(results: dict, family: str, start: int, log, warnings=None) -> dict:
    """Place every :data:`COMPOSED` design at the largest size that fits ``family`` (from
    ``start`` down), and at :data:`COMPOSED_SIDE` on the larger part if it did not fit.

    A Yosys failure (Yosys 0.70 asserts inside ABC9 on some of these designs, docs/synth.md)
    ends that design's search with a warning in ``warnings`` instead of the whole run."""
    placed = {}
    for name in COMPOSED:
        try:
            placed[name] = _composed_one(results, family, name, start, log)
        except subprocess.CalledProcessError as exc:
            msg = (f"{name} on {FAMILIES[family]['device']}: Yosys failed "
                   f"({' '.join(exc.cmd[-1].split(';')[:1])}...; see its yosys.log under "
                   "build/synth); the composed top is not reported there")
            log(f"synth: WARNING: {msg}")
            if warnings is not None:
                warnings.append(msg)
            placed[name] = {family: None}
    return placed


def _composed_one(results: dict, family: str, name: str, start: int, log) -> dict:
    design = registry.get(name)
    best = largest_square(results, family, name, start, log)
    placed = {family: best}
    side = registry.parse(best)[1]["rows"] if best else 0
    if side < COMPOSED_SIDE and family in LARGER:
        big = LARGER[family]
        params = {"rows": COMPOSED_SIDE, "cols": COMPOSED_SIDE, "acc_width": ACC_WIDTH}
        vname = design.instance_name(**params)
        log(f"synth: {vname} on {FAMILIES[big]['device']} ({family} part too small)")
        results.setdefault(vname, {})[big] = measure(
            vname, design.build(**params), big, log=log)
        placed[big] = vname if results[vname][big]["fits"] else None
    for fam, vname in placed.items():
        if vname:
            results[vname][fam]["units"] = _unit_areas(design, vname, fam, log)
    return placed


def _unit_areas(design, vname: str, family: str, log) -> dict:
    """Area of each unit of a composed design, synthesised on its own as its registry entry
    under the same parameters (the units share no logic, so these add up to the whole up to
    what synthesis finds across their boundaries). Area only; a larger part's units are
    synthesised as on its family's default part (same Yosys script)."""
    params = {**registry.parse(vname)[1], "acc_width": ACC_WIDTH}
    area_family = next((f for f, big in LARGER.items() if big == family), family)
    units = {}
    for unit, entry in design.units.items():
        stem = registry.file_stem(entry, **params)
        try:
            got = measure(stem, registry.build(entry, **params)[1], area_family,
                          place=False, log=log)
        except subprocess.CalledProcessError:
            log(f"synth: WARNING: Yosys failed on the unit {stem} ({area_family}); its "
                "share is not reported")
            units[unit] = {"design": stem, "luts": None, "carry": None, "ff": None}
            continue
        units[unit] = {"design": stem, **{k: got[k] for k in ("luts", "carry", "ff", "scope")
                                          if k in got}}
    return units


def run(out: Path, *, families=MEASURED, place: bool = True, log=print) -> dict:
    t0 = time.monotonic()
    results: dict[str, dict] = {}
    largest: dict[str, str | None] = {}
    composed: dict[str, dict] = {name: {} for name in COMPOSED}
    warnings: list[str] = []
    jobs = _designs(log) + [(array_name(n), lambda n=n: array(n)[1]) for n in ARRAY_SIZES]
    jobs += [(registry.instance_name(name, rows=n, cols=n),
              lambda name=name, n=n: registry.build(name, rows=n, cols=n)[1])
             for name in BLOCK_ARRAYS for n in BLOCK_ARRAY_SIZES]
    for family in families:
        log(f"synth: {family}: {len(jobs)} designs ({FAMILIES[family]['device']})")
        for k, (vname, factory) in enumerate(jobs, 1):
            log(f"[{family} {k}/{len(jobs)}] {vname}")
            results.setdefault(vname, {})[family] = measure(vname, factory(), family,
                                                            place=place, log=log)
        if place:
            largest[family] = largest_array(results, family, log)
            if largest[family] is None:
                msg = (f"no square 4-bit array places on {FAMILIES[family]['device']}: every "
                       "size down to 1x1 failed, no largest array reported")
                log(f"synth: WARNING: {msg}")
                warnings.append(msg)
            start = registry.parse(largest[family])[1]["rows"] if largest[family] else 0
            for name, where in _composed(results, family, start, log, warnings).items():
                composed[name].update(where)
    ratios, basis = ratios_of(results, families)
    report = {
        "designs": results,
        "semantics": {n: registry.parse(n)[0].semantics for n in results},
        "ratios": ratios,
        "ratio_basis": basis,
        "equal_throughput": equal_throughput(results, families),
        "largest_array": largest,
        "composed": composed,
        "warnings": warnings,
        "tools": tool_versions(),
        "acc_width": ACC_WIDTH,
        "wall_s": round(time.monotonic() - t0, 1),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "synth.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "synth.md").write_text(markdown(report, families))
    plot(report, families, out / "synth_luts.png")
    plot_throughput(report, out / "synth_throughput.png")
    log(f"synth: wrote {out / 'synth.json'}, {out / 'synth.md'}, {out / 'synth_luts.png'}, "
        f"{out / 'synth_throughput.png'} in {report['wall_s']} s")
    return report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=output_dir, default=REPO / "build" / "reports")
    ap.add_argument("--family", choices=MEASURED, action="append",
                    help="only this family (repeatable; default: both)")
    ap.add_argument("--no-pnr", action="store_true", help="area only, no place and route")
    ap.add_argument("--write-baselines", action="store_true",
                    help="also record the measured area as synth/baselines/*.json")
    args = ap.parse_args(argv)
    report = run(args.out, families=tuple(args.family or MEASURED), place=not args.no_pnr,
                 log=lambda s: print(s, flush=True))
    if args.write_baselines:
        write_baselines(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())

