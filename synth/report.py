"""The report of ``make synth``: ratios, Markdown table, plot, baselines."""

import json
from pathlib import Path

from hdl import registry
from synth.flow import FAMILIES, REPO
from synth.search import is_array, is_mac_array, pes

BASELINES = REPO / "synth" / "baselines"
#: Designs with a baseline (hdl.registry ``baselines``): instance name -> (registry name,
#: build parameters).
BASELINE_DESIGNS = {d.instance_name(**b): (d.name, dict(b))
                    for d in registry.designs("synth") for b in d.baselines}

#: The issue's target: the FP16 PE costs at least this many times the 4-bit PE's LUTs, on
#: every family (asserted by ``make synth-check``, verif/synth/test_area.py).
RATIO_TARGET = 7.0


def ratios_of(results: dict, families) -> tuple[dict, dict]:
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
              if is_array(n) and all(f in r for f in families)]
    if arrays:
        big = max(arrays, key=pes)
        for metric in ("luts", "logic_cells"):
            key = "fp16_pe_over_q4_array_pe_" + ("luts" if metric == "luts" else "cells")
            ratios[key] = {f: round(fp16[f][metric] * pes(big) / results[big][f][metric], 2)
                           for f in families}
            basis[key] = (f"{big}: FP16 PE {metric} / ({big} {metric} / {pes(big)} PEs); the "
                          "array's share per PE includes its result-capture chain and "
                          "per-column clamp")
    return ratios, basis


def equal_throughput(results: dict, families) -> dict:
    """Area at equal throughput, per family: each multiply-accumulate PE of the registry
    (``mac_pe``, one MAC per clock) and every placed array, 4-bit or MXFP4 (R x C MACs per
    clock), as LUTs x clock period / MACs per clock (LUT x ns per MAC: the LUTs it takes to
    sustain one MAC per ns)."""
    out = {}
    for f in families:
        placed = {n: r[f] for n, r in results.items()
                  if f in r and r[f].get("fits") and r[f].get("fmax_mhz")}
        names = [n for n in placed if is_mac_array(n) or registry.parse(n)[0].mac_pe]
        for n in names:
            r, macs = placed[n], pes(n) if is_mac_array(n) else 1
            out.setdefault(f, {})[n] = {
                "luts": r["luts"], "ff": r["ff"], "fmax_mhz": r["fmax_mhz"],
                "macs_per_clock": macs,
                "lut_ns_per_mac": round(r["luts"] * 1000 / r["fmax_mhz"] / macs, 1)}
    return out


def throughput_lines(report: dict) -> list[str]:
    """The equal-throughput table of :func:`equal_throughput`, against the 4-bit PE."""
    table = report.get("equal_throughput") or {}
    if not table:
        return []
    lines = ["", "Area at equal throughput (LUT x ns per MAC = LUTs x clock period / MACs per "
             "clock; lower is better):", "",
             "| design | family | LUTs | FF | Fmax MHz | MACs / clock | LUT x ns per MAC | "
             "/ 4-bit PE |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for f, rows in table.items():
        q4 = rows.get("pe", {}).get("lut_ns_per_mac")
        for n, r in sorted(rows.items(), key=lambda kv: kv[1]["lut_ns_per_mac"]):
            rel = f"{r['lut_ns_per_mac'] / q4:.2f}x" if q4 else ""
            lines.append(f"| {n} | {f} | {r['luts']} | {r['ff']} | {r['fmax_mhz']:.1f} | "
                         f"{r['macs_per_clock']} | {r['lut_ns_per_mac']} | {rel} |")
    return lines


#: How far below its baseline a design's Fmax may fall before ``make synth-check`` fails:
#: nextpnr's placement is seeded, and any change to a netlist moves the placement as a new
#: seed would; across seeds 1-8 of unchanged netlists the Fmax spread (max / min) was
#: measured at up to FMAX_SPREAD (docs/synth.md), so a floor closer than that would fail on
#: noise, and one much further would miss a real extra logic level.
FMAX_MARGIN = 0.10


def write_baselines(report: dict, directory: Path = BASELINES, tolerance: float = 0.05,
                    fmax_margin: float = FMAX_MARGIN) -> None:
    """Record the measured area (and, where placed, Fmax) of :data:`BASELINE_DESIGNS` as the
    new reference."""
    directory.mkdir(parents=True, exist_ok=True)
    for vname, (registry, params) in BASELINE_DESIGNS.items():
        measured = report["designs"].get(vname)
        if not measured:
            continue
        entry = {"design": vname, "registry": registry, "params": params,
                 "tolerance": tolerance, "fmax_margin": fmax_margin}
        for f, r in measured.items():
            entry[f] = {k: r[k] for k in ("luts", "carry", "ff")}
            if r.get("fits") and r.get("fmax_mhz"):
                entry[f]["fmax_mhz"] = r["fmax_mhz"]
        (directory / f"{vname}.json").write_text(json.dumps(entry, indent=1) + "\n")


def size_key(name: str):
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
    for name in sorted(report["designs"], key=size_key):
        row = [name]
        for f in families:
            r = report["designs"][name].get(f)
            if r is None:
                row += [""] * 5
                continue
            fmax = "n/a" if r["fmax_mhz"] is None else f"{r['fmax_mhz']:.1f}"
            if r.get("fits") is False:
                fmax = "does not fit"
            mark = FLAT_MARK if r.get("scope") else ""
            row += [str(r["luts"]) + mark, str(r.get("logic_cells", "")), str(r["carry"]),
                    str(r["ff"]), fmax]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "`cells`: logic cells of the design alone, without the I/O wrapper "
              "(`nextpnr --pack-only --top <design>.dut` on the same netlist): "
              + ", ".join(f"{f} `{FAMILIES[f]['logic_cell']}`" for f in families)
              + ". An iCE40 logic cell holds one LUT4, its carry and one flip-flop, so there "
              "flip-flops that find no LUT of their own cost a cell; ECP5 flip-flops sit "
              "beside the LUTs. Fmax: placed with the wrapper.", ""]
    if any(r.get("scope") for d in report["designs"].values() for r in d.values()):
        lines[-1:] = [FLAT_NOTE, ""]
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
    lines += throughput_lines(report) + composed_lines(report) + critical_lines(report)
    for msg in report.get("warnings", []):
        lines.append(f"- **WARNING**: {msg}")
    lines.append("")
    for name, text in sorted(report["semantics"].items(), key=lambda kv: size_key(kv[0])):
        lines.append(f"- `{name}`: {text}")
    return "\n".join(lines) + "\n"


#: Marks an area taken from the flat netlist, wrapper included (synth.flow's flat fallback).
FLAT_MARK = " †"
FLAT_NOTE = ("† Yosys 0.70 asserts inside ABC9 on this design with its hierarchy kept, so its "
             "area is that of the flat netlist, I/O wrapper included: one flip-flop per input "
             "and output bit and at most one 2:1 mux LUT per output bit of the design "
             "(`wrapper_bits` in synth.json).")


def composed_lines(report: dict) -> list[str]:
    """The composed top(s): area, Fmax and each unit's share of the LUTs and flip-flops."""
    lines, flagged = [], False
    for name, where in report.get("composed", {}).items():
        rows = list(where.items())
        units = next((tuple(report["designs"][v][f].get("units", {})) for f, v in rows if v),
                     ())
        lines += ["", f"Composed top `{name}`: the largest size that places on each device "
                  "(and 8x8 on the larger ECP5 if the 25k part cannot take it). Per unit: "
                  "LUTs / FF of the unit synthesised on its own, and its share of the units' "
                  "sum.", "",
                  "| device | design | LUTs | FF | Fmax MHz | "
                  + " | ".join(f"{u} LUTs / FF" for u in units) + " |",
                  "|---|---|---:|---:|---:|" + "---:|" * len(units)]
        for f, vname in rows:
            if vname is None:
                lines.append(f"| {FAMILIES[f]['device']} | none places | | | |"
                             + " |" * len(units))
                continue
            r = report["designs"][vname][f]
            parts = r.get("units", {})
            luts = sum(u["luts"] or 0 for u in parts.values()) or 1
            ffs = sum(u["ff"] or 0 for u in parts.values()) or 1
            cells = [f"{u['luts']}{FLAT_MARK if u.get('scope') else ''} ({u['luts'] / luts:.0%})"
                     f" / {u['ff']} ({u['ff'] / ffs:.0%})"
                     if u["luts"] is not None else "Yosys failed" for u in parts.values()]
            fmax = "n/a" if r["fmax_mhz"] is None else f"{r['fmax_mhz']:.1f}"
            mark = FLAT_MARK if r.get("scope") else ""
            lines.append(f"| {FAMILIES[f]['device']} | `{vname}` | {r['luts']}{mark} | "
                         f"{r['ff']} | {fmax} | " + " | ".join(cells) + " |")
            flagged = flagged or mark or any(u.get("scope") for u in parts.values())
    return lines + (["", FLAT_NOTE] if flagged else [])


def critical_lines(report: dict) -> list[str]:
    """What bounds each design's clock: nextpnr's critical path, start and end cell."""
    lines = ["", "Critical paths (nextpnr, with the wrapper; cells named from the design):", ""]
    for name in sorted(report["designs"], key=size_key):
        for f, r in report["designs"][name].items():
            path = r.get("critical_path")
            if path and r.get("fits"):
                lines.append(f"- `{name}` {f} {r['fmax_mhz']:.1f} MHz: `{path['from']}` -> "
                             f"`{path['to']}`, {path['logic_levels']} logic levels, "
                             f"{path['delay_ns']} ns")
    return lines if len(lines) > 3 else []


def plot_throughput(report: dict, path: Path) -> None:
    """Bars of LUT x ns per MAC for each design of the equal-throughput table, per family."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = report.get("equal_throughput") or {}
    names = sorted({n for rows in table.values() for n in rows}, key=size_key)
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / max(len(table), 1)
    for i, (f, rows) in enumerate(table.items()):
        xs = [k + i * width for k, n in enumerate(names) if n in rows]
        ax.bar(xs, [rows[n]["lut_ns_per_mac"] for n in names if n in rows], width, label=f)
    ax.set_xticks([k + width * (len(table) - 1) / 2 for k in range(len(names))], names,
                  rotation=20, fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("LUT x ns per MAC (lower is better)")
    ax.set_title("Area at equal throughput (Yosys LUTs x nextpnr clock period)")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot(report: dict, families, path: Path) -> None:
    """LUTs against PEs: the 4-bit arrays measured, and the FP16 PE scaled to the same count."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for f, style in zip(families, ("o-", "s--")):
        pts = sorted((pes(n), r[f]["luts"]) for n, r in report["designs"].items()
                     if is_array(n) and f in r)
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
