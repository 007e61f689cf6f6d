"""``make bench``: cycles per tile of the array against its ideal, and simulated cycles/s.

Not a test: it measures. For each array size it runs a cocotb module (this file) on the
generated Verilog under every simulator present, driving it with the stream source and sink of
:mod:`verif.lib.cocotb_streams` (never paused):

- cycles per tile: back-to-back tiles of one K with both inputs always valid and the output
  always ready; the steady-state interval between tile results, against the dataflow's ideal
  of K cycles (one MAC per PE per cycle) and the documented model
  ``max(K, rows + hdl.pe.LATENCY + 1)``.
- speed: a long run of such tiles, simulated cycles over wall-clock seconds, measured inside
  the simulation (build time excluded). Per cycle the drivers do what the hardware-in-the-loop
  driver must do: three reads and at most three writes of pre-packed integers.

Writes ``<out>/bench.json`` and prints a table. Usage: ``python -m sim.bench --out build/reports``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

from golden.cli import output_dir

SIZES = ((4, 4), (8, 8))
ACC_WIDTH = 32
TILES_PER_K = 24


def model(k: int, rows: int) -> int:
    """Cycles per tile in steady state (docs/array.md): K, but at least the drain's R beats
    plus the PE pipeline that a tile end must find empty."""
    from hdl.pe import LATENCY

    return max(k, rows + LATENCY + 1)


def ks_for(rows: int) -> list[int]:
    knee = model(1, rows)
    return sorted({1, 2, rows, knee - 1, knee, 16, 64})


# --------------------------------------------------------------------------- cocotb side

try:
    import cocotb
    from cocotb.triggers import FallingEdge

    from verif.lib.cocotb_streams import StreamSink, StreamSource, reset, run_streams
except ImportError:  # pragma: no cover - cocotb is a dependency; the runner side needs no cocotb
    cocotb = None


async def _stream(dut, a_beats, b_beats, n_out):
    """Full-rate stream (never idle, never backpressured); returns (in_cycles, out_cycles).

    ``in_cycles[i]``: cycle of the i-th A handshake; ``out_cycles[j]`` of the j-th result beat.
    The library's streams with no pause generator, one trigger per cycle (``registered``: the
    array's ready/valid depend on registers only).
    """
    rnd = random.Random(0)   # only for the junk payload once the beats run out
    source = StreamSource(dut, "i_a", a_beats, rnd=rnd)
    sink = StreamSink(dut, "o_c", n_out, rnd=rnd)
    await run_streams(dut, [source, StreamSource(dut, "i_b", b_beats, rnd=rnd)], [sink],
                      budget=20 * (len(a_beats) + n_out) + 100, where="bench o_c",
                      registered=True)
    return source.cycles, sink.cycles


def _beats(rows, cols, k, tiles, seed):
    from sim.array_payload import gemm_beats

    rng = np.random.default_rng(seed)
    a = rng.integers(0, 16, (rows * tiles, k))
    b = rng.integers(0, 16, (k, cols))
    return gemm_beats(a, b, rows=rows, cols=cols, a_format="uint4", b_format="r4", phase=0)


if cocotb is not None:
    @cocotb.test()
    async def bench_array(dut):
        """Measure tile intervals per K, then simulation speed; write JSON to BENCH_OUT."""
        rows, cols = int(os.environ["ROWS"]), int(os.environ["COLS"])
        await reset(dut, idle=("i_a__valid", "i_b__valid", "o_c__ready"))
        fall = FallingEdge(dut.clk)
        await fall
        result = {"tiles": []}
        for k in ks_for(rows):
            beats = _beats(rows, cols, k, TILES_PER_K, k)
            ins, outs = await _stream(dut, beats.a, beats.b, beats.tiles * rows)
            firsts = outs[::rows]
            interval = (firsts[-1] - firsts[0]) / (len(firsts) - 1)
            result["tiles"].append({
                "k": k, "cycles_per_tile": interval, "ideal": k, "model": model(k, rows),
                "mac_utilisation": k / interval,
                "latency": outs[0] - ins[k - 1],
            })
            for _ in range(rows + 4):
                await fall
        target = int(os.environ["BENCH_CYCLES"])
        k = 64
        tiles = max(2, target // k)
        beats = _beats(rows, cols, k, tiles, 1)
        start = time.perf_counter()
        ins, outs = await _stream(dut, beats.a, beats.b, beats.tiles * rows)
        seconds = time.perf_counter() - start
        cycles = outs[-1] + 1
        result["speed"] = {"cycles": cycles, "seconds": seconds,
                           "cycles_per_second": cycles / seconds}
        Path(os.environ["BENCH_OUT"]).write_text(json.dumps(result, indent=1))


# --------------------------------------------------------------------------- runner side

#: Simulated cycles for the speed run, sized so each takes a few seconds.
SPEED_CYCLES = {"verilator": 60000, "icarus": 12000}


def run(out: Path, simulators=None) -> dict:
    from hdl import registry
    from sim import toolchain
    from sim.cocotb_run import run_cocotb

    simulators = simulators or toolchain.available_simulators()
    report = {"acc_width": ACC_WIDTH, "arrays": {}}
    (design,) = registry.designs("bench")
    for rows, cols in SIZES:
        entry = {}
        params = {"rows": rows, "cols": cols, "acc_width": ACC_WIDTH}
        for sim in simulators:
            name = "bench_" + design.file_stem(**params)
            path = out / f"bench_{rows}x{cols}_{sim}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            run_cocotb(design.build(**params), name=name, test_module="sim.bench",
                       simulator=sim, waves=False,
                       env={"ROWS": rows, "COLS": cols, "BENCH_OUT": path.resolve(),
                            "BENCH_CYCLES": SPEED_CYCLES[sim]})
            measured = json.loads(path.read_text())
            path.unlink()
            if "tiles" in entry and entry["tiles"] != measured["tiles"]:
                raise AssertionError(f"{rows}x{cols}: cycle counts differ between simulators")
            entry["tiles"] = measured["tiles"]
            entry.setdefault("speed", {})[sim] = measured["speed"]
        report["arrays"][f"{rows}x{cols}"] = entry
    return report


def table(report: dict) -> str:
    lines = []
    for size, entry in report["arrays"].items():
        lines.append(f"array {size} (acc_width {report['acc_width']})")
        lines.append("     K  cycles/tile  ideal  model  MAC use  latency")
        for t in entry["tiles"]:
            lines.append(f"  {t['k']:4d}  {t['cycles_per_tile']:11.2f}  {t['ideal']:5d}  "
                         f"{t['model']:5d}  {t['mac_utilisation']:6.1%}  {t['latency']:7d}")
        for sim, s in entry["speed"].items():
            lines.append(f"  {sim:9s} {s['cycles_per_second']:10.0f} cycles/s "
                         f"({s['cycles']} cycles in {s['seconds']:.2f} s)")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=output_dir, default=Path("build/reports"))
    ap.add_argument("--sim", action="append", choices=("verilator", "icarus"),
                    help="simulator(s) to measure (default: every one present)")
    args = ap.parse_args(argv)
    report = run(args.out, args.sim)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(report, indent=1))
    print(table(report))
    print(f"bench: wrote {args.out / 'bench.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
