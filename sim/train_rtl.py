"""``make train-rtl``: a whole 4-bit training run executed by the generated hardware.

    python -m sim.train_rtl --model mlp --out build/reports          # MLP, full schedule, 8x8
    python -m sim.train_rtl --model cnn --epochs 2 --rows 4 --cols 4

Every 4-bit operation of every step (the forward GEMM, both backward GEMMs, gradient
quantization with its amax, every read-out) and of every test-set evaluation runs on the
Verilated :class:`hdl.training_units.TrainingUnits` through :class:`sim.rtl_backend.RtlBackend`
and the native engine; :class:`sim.lockstep.LockstepBackend` compares each result with the
golden model as it goes and stops at the first difference (step, layer, unit, tile). At the
end an independent golden run of the same seed must reproduce the losses, accuracies and
counters exactly. Writes ``<out>/train_rtl.json`` (see docs/rtl_training.md) and prints a
summary; exits 1 on any divergence or hardware fault.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from golden.backend import TableBackend
from golden.cli import output_dir
from experiments.train import HPARAMS, MODELS, train_run
from hdl.gen import MAX_ARRAY_PES

__all__ = ["run", "main"]


def _steps_per_epoch(model: str, n_train: int, batch=None) -> int:
    return -(-n_train // (batch or HPARAMS[model]["batch"]))


def run(model: str = "mlp", *, epochs=None, rows=8, cols=8, seed=1, max_steps=None,
        batch=None, engine=None, data=None, progress=True) -> dict:
    """One RTL training run; returns the report (see the module docstring).

    ``engine`` defaults to a :class:`sim.native_engine.NativeEngine` of ``rows`` x ``cols``;
    ``data`` to the digits split; ``batch`` to the model's batch size.
    Raises :class:`sim.lockstep.Divergence` or :class:`sim.rtl_backend.RtlFault` on failure.
    """
    from experiments.data import load_digits_split
    from sim.lockstep import LockstepBackend
    from sim.native_engine import NativeEngine
    from sim.rtl_backend import RtlBackend

    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, not {model!r}")
    data = data or load_digits_split()
    if engine is None:
        engine = NativeEngine(rows, cols)
    rtl = RtlBackend(engine)
    check = LockstepBackend(rtl, TableBackend())
    n_epochs = epochs or HPARAMS[model]["epochs"]
    total = n_epochs * _steps_per_epoch(model, len(data.x_train), batch)
    if max_steps is not None:
        total = min(total, max_steps)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=total, unit="step", desc=f"train-rtl {model} {engine.rows}x{engine.cols}")
    t0 = time.perf_counter()

    def on_step(ctx, loss):
        if bar is not None:
            cyc = sum(rtl.cycles.values())
            bar.update(1)
            bar.set_postfix_str(f"loss {loss:.1f}, {cyc / (time.perf_counter() - t0):,.0f} "
                                f"cycles/s")

    try:
        row = train_run(model, "q4", seed, data=data, backend=check, epochs=epochs,
                        batch=batch, max_steps=max_steps, on_start=check.bind, on_step=on_step)
    finally:
        if bar is not None:
            bar.close()
    wall = time.perf_counter() - t0
    steps = check.ctx.step
    cycles = dict(rtl.cycles)
    total_cycles = sum(cycles.values())
    report = {
        "model": model, "policy": "q4", "array": [engine.rows, engine.cols],
        "acc_width": engine.acc_width, "seed": seed, "epochs": len(row["test_acc"]),
        "steps": steps, "engine": type(engine).__name__,
        "test_acc": row["test_acc"], "final_acc": row["final_acc"],
        "train_loss": row["train_loss"], "stats": row["stats"],
        "sim_cycles": cycles | {"total": total_cycles}, "macs": rtl.macs,
        "utilization": round(rtl.macs / (engine.rows * engine.cols * cycles["array"]), 4)
        if cycles["array"] else None,
        "wall_s": round(wall, 2), "s_per_epoch": round(wall / len(row["test_acc"]), 2),
        "train_epoch_s": [round(t, 2) for t in row["epoch_s"]],
        "cycles_per_s": round(total_cycles / wall),
        "time_split_s": {"engine": round(rtl.engine_s, 2), "golden_check": round(check.golden_s, 2),
                         "host": round(wall - rtl.engine_s - check.golden_s, 2)},
        "compared_arrays": check.compared,
    }
    gold = train_run(model, "q4", seed, data=data, backend=TableBackend(), epochs=epochs,
                     batch=batch, max_steps=max_steps)
    keys = ("test_acc", "train_loss", "stats", "alphas")
    report["golden"] = {k: gold[k] for k in keys}
    report["bit_exact"] = all(gold[k] == row[k] for k in keys)
    return report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=MODELS, default="mlp")
    ap.add_argument("--epochs", type=int, default=None, help="default: the model's schedule")
    ap.add_argument("--rows", type=int, default=8)
    ap.add_argument("--cols", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    ap.add_argument("--out", type=output_dir, default=Path("build/reports"))
    args = ap.parse_args(argv)
    for name in ("epochs", "max_steps"):
        value = getattr(args, name)
        if value is not None and value < 1:
            ap.error(f"--{name.replace('_', '-')} must be a positive integer, not {value}")
    for name in ("rows", "cols"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be a positive integer, not {getattr(args, name)}")
    if args.rows * args.cols > MAX_ARRAY_PES:
        ap.error(f"a {args.rows}x{args.cols} array has more than {MAX_ARRAY_PES} processing "
                 f"elements, the most make verilog generates (hdl.gen.MAX_ARRAY_PES)")
    if not 1 <= args.seed <= 2 ** 32 - 1:
        ap.error(f"--seed must be in 1..2**32-1, not {args.seed}")
    from threadpoolctl import threadpool_limits

    from sim.lockstep import Divergence
    from sim.native import NativeBuildError
    from sim.rtl_backend import RtlFault

    threadpool_limits(1)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "train_rtl.json"
    path.unlink(missing_ok=True)        # never leave the report of an earlier command
    try:
        report = run(args.model, epochs=args.epochs, rows=args.rows, cols=args.cols,
                     seed=args.seed, max_steps=args.max_steps)
    except (Divergence, RtlFault, NativeBuildError, RuntimeError) as exc:
        print(f"train-rtl: FAILED: {exc}", file=sys.stderr)
        return 1
    report["command"] = "python -m sim.train_rtl " + " ".join(argv or sys.argv[1:])
    path.write_text(json.dumps(report, indent=1))
    r = report
    print(f"\ntrain-rtl {r['model']} on a {r['array'][0]}x{r['array'][1]} array: {r['epochs']} "
          f"epochs, {r['steps']} steps, bit_exact {r['bit_exact']}, final accuracy "
          f"{r['final_acc']:.2f} %")
    print(f"  {r['s_per_epoch']} s/epoch (wall {r['wall_s']} s), {r['cycles_per_s']:,} "
          f"simulated cycles/s, array utilization {100 * r['utilization']:.1f} %")
    print(f"  cycles: " + ", ".join(f"{k} {v:,}" for k, v in r["sim_cycles"].items()))
    print(f"  time: " + ", ".join(f"{k} {v} s" for k, v in r["time_split_s"].items()))
    print(f"wrote {path}")
    return 0 if r["bit_exact"] else 1


if __name__ == "__main__":
    sys.exit(main())
