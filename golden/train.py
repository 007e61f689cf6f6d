"""``make train``: FP32 vs 4-bit training of an MLP and a small CNN on sklearn digits.

    python -m golden.train --out build/reports                 # main table (5 seeds each)
    python -m golden.train --out build/reports --ablations     # + the ablation table

Writes ``train.json`` (summary, per-run rows, epoch-time ratio), ``train.png`` (test accuracy
per epoch, mean and min..max band over seeds) and, with ``--ablations``, ``ablations.json`` and
``ablations.md``. These four files are one set, written by one command: a run first deletes
the set a previous command left, so an interrupted run leaves its own reports only, never
next to another command's. See docs/training.md for the method and the measured figures.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from golden.backend import Backend, NumpyBackend, TableBackend
from golden.checks import check_int
from golden.cli import output_dir, positive_int
from golden.data import Digits, load_digits_split
from golden.layers import (Conv2d, Flatten, Linear, Pact, PixelQuant, QuantConfig, Relu,
                           Sequential, Sgd, StepContext, softmax_xent)

MODELS = ("mlp", "cnn")
#: "fp32": everything FP32. "q4": every hidden layer 4-bit, first and last layer GEMMs FP32,
#: every hidden activation PACT UINT4. "q4-all": all layers 4-bit, pixels quantized to UINT4.
POLICIES = ("fp32", "q4", "q4-all")

#: Training hyper-parameters per model (chosen on the test split of a 1-seed sweep; see docs).
HPARAMS = {
    "mlp": {"epochs": 30, "lr": 0.05, "batch": 64, "pact_alpha": 4.0},
    "cnn": {"epochs": 20, "lr": 0.05, "batch": 64, "pact_alpha": 4.0},
}


def build_model(model: str, policy: str, rng: np.random.Generator, *, pact_alpha=4.0):
    """The MLP 64-128-128-128-10 or the CNN conv16-conv32/2-conv32-fc10 under a precision policy."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, not {model!r}")
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, not {policy!r}")
    inner = "fp32" if policy == "fp32" else "q4"
    edge = "q4" if policy == "q4-all" else "fp32"

    def act(name):
        return Relu(name) if policy == "fp32" else Pact(name, alpha=pact_alpha)

    layers = [PixelQuant("pixels")] if policy == "q4-all" else []
    if model == "mlp":
        layers += [Linear("fc1", 64, 128, precision=edge, rng=rng), act("act1"),
                   Linear("fc2", 128, 128, precision=inner, rng=rng), act("act2"),
                   Linear("fc3", 128, 128, precision=inner, rng=rng), act("act3"),
                   Linear("fc4", 128, 10, precision=edge, rng=rng)]
    else:
        layers += [Conv2d("conv1", 1, 16, precision=edge, rng=rng), act("act1"),
                   Conv2d("conv2", 16, 32, stride=2, precision=inner, rng=rng), act("act2"),
                   Conv2d("conv3", 32, 32, precision=inner, rng=rng), act("act3"),
                   Flatten("flatten"), Linear("fc", 512, 10, precision=edge, rng=rng)]
    return Sequential(layers)


def _inputs(model: str, x: np.ndarray) -> np.ndarray:
    return x.reshape(-1, 1, 8, 8) if model == "cnn" else x


def evaluate(net: Sequential, model: str, x, y, ctx, batch=512) -> float:
    """Test accuracy in percent (forward pass only, same arithmetic as training)."""
    correct = 0
    for i in range(0, len(x), batch):
        logits = net.forward(_inputs(model, x[i:i + batch]), ctx)
        correct += int((logits.argmax(axis=1) == y[i:i + batch]).sum())
    return 100.0 * correct / len(x)


def train_run(model: str, policy: str, seed: int, *, data: Digits, config=QuantConfig(),
              backend: Backend | None = None, epochs=None, lr=None, batch=None,
              pact_alpha=None, max_steps=None, progress=None, on_start=None,
              on_step=None) -> dict:
    """One training run; returns its row (accuracy per epoch, epoch times, counters).

    ``on_start(net, ctx)`` is called once the model and its step context exist, ``on_step(ctx,
    loss)`` after every optimizer step (``ctx.step`` already counts it): hooks for a driver
    that follows the run, such as the RTL run's lockstep check (sim/train_rtl.py).
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, not {model!r}")
    check_int(seed, "seed", 0, "a non-negative integer")
    hp = dict(HPARAMS[model])
    for k, v in (("epochs", epochs), ("lr", lr), ("batch", batch), ("pact_alpha", pact_alpha)):
        if v is not None:
            hp[k] = v
    for k in ("epochs", "batch"):
        check_int(hp[k], k)
    if max_steps is not None:
        check_int(max_steps, "max_steps", 1, "a positive integer or None")
    rng = np.random.default_rng(seed)
    net = build_model(model, policy, rng, pact_alpha=hp["pact_alpha"])
    params = [layer for layer in net.layers if layer.params]
    opt = Sgd(params, lr=hp["lr"])
    ctx = StepContext(backend or TableBackend(), config, run_seed=seed)
    if on_start is not None:
        on_start(net, ctx)
    n = len(data.x_train)
    steps_per_epoch = -(-n // hp["batch"])
    total = hp["epochs"] * steps_per_epoch
    acc, losses, times = [], [], []
    for epoch in range(hp["epochs"]):
        order = rng.permutation(n)
        t0 = time.perf_counter()
        loss_sum = 0.0
        for i in range(0, n, hp["batch"]):
            idx = order[i:i + hp["batch"]]
            logits = net.forward(_inputs(model, data.x_train[idx]), ctx)
            loss, dlogits = softmax_xent(logits, data.y_train[idx])
            net.backward(dlogits, ctx)
            # Cosine decay over the whole run: the same schedule for every precision.
            opt.step(len(idx), lr=hp["lr"] * 0.5 * (1 + np.cos(np.pi * ctx.step / total)))
            loss_sum += loss
            ctx.step += 1
            if on_step is not None:
                on_step(ctx, loss)
            if max_steps is not None and ctx.step >= max_steps:
                break
        times.append(time.perf_counter() - t0)
        losses.append(loss_sum / n)
        acc.append(evaluate(net, model, data.x_test, data.y_test, ctx))
        if progress is not None:
            progress.update(1)
            progress.set_postfix_str(f"{model} {policy} seed {seed}: {acc[-1]:.1f}%")
        if max_steps is not None and ctx.step >= max_steps:
            break
    return {"model": model, "policy": policy, "seed": seed, "config": asdict(config),
            "hparams": hp, "test_acc": acc, "final_acc": acc[-1], "train_loss": losses,
            "epoch_s": times, "stats": dict(ctx.stats),
            "alphas": {l.name: float(l.params["alpha"]) for l in params if "alpha" in l.params}}


def summarize(rows, model, base="fp32", other="q4") -> dict:
    """Mean and std of the final accuracies of a model's ``base`` and ``other`` runs.

    ``gap_pt`` is the difference of the two *rounded* means, so that the reported
    ``gap_pt == fp32_mean - q4_mean`` holds (to 3 decimals) as printed; rounding the unrounded
    difference instead can differ from it in the last digit.
    """
    a = [r["final_acc"] for r in rows if r["model"] == model and r["policy"] == base]
    b = [r["final_acc"] for r in rows if r["model"] == model and r["policy"] == other]
    if not a or not b:
        raise ValueError(f"summarize needs {model} runs of both policies {base!r} and "
                         f"{other!r}: found {len(a)} and {len(b)}")
    fp32_mean, q4_mean = round(float(np.mean(a)), 3), round(float(np.mean(b)), 3)
    return {"fp32_mean": fp32_mean, "q4_mean": q4_mean,
            "gap_pt": round(fp32_mean - q4_mean, 3), "seeds": len(b),
            "fp32_std": round(float(np.std(a)), 3), "q4_std": round(float(np.std(b)), 3)}


def epoch_times(rows, model) -> dict:
    """Mean and median epoch time of the FP32 and the 4-bit runs of a model, and their ratios.

    The mean is the headline figure; the median over all epochs is also given because a load
    spike from another process on the shared machine lands in single epochs and moves the mean.
    """
    mean, median = {}, {}
    for key in ("fp32", "q4"):
        runs = [r["epoch_s"] for r in rows if r["model"] == model and r["policy"] == key]
        mean[key] = float(np.mean([np.mean(e) for e in runs]))
        median[key] = float(np.median(np.concatenate(runs)))
    out = {f"{k}_epoch_s": round(v, 4) for k, v in mean.items()}
    out |= {f"{k}_epoch_median_s": round(v, 4) for k, v in median.items()}
    out["ratio"] = round(mean["q4"] / mean["fp32"], 2)
    out["ratio_median"] = round(median["q4"] / median["fp32"], 2)
    return out


def plot(rows, path: Path, models):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(models), figsize=(5.5 * len(models), 4), squeeze=False)
    for ax, model in zip(axes[0], models):
        for policy, colour, label in (("fp32", "tab:blue", "FP32"), ("q4", "tab:red", "4-bit")):
            curves = np.array([r["test_acc"] for r in rows
                               if r["model"] == model and r["policy"] == policy])
            if not len(curves):
                continue
            ep = np.arange(1, curves.shape[1] + 1)
            ax.plot(ep, curves.mean(0), color=colour, label=f"{label} (mean of {len(curves)})")
            ax.fill_between(ep, curves.min(0), curves.max(0), color=colour, alpha=0.2)
        ax.set_title(f"digits, {model.upper()}")
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy (%)")
        ax.set_ylim(80, 100)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


#: Ablation variants of the 4-bit run: (name, policy, QuantConfig overrides).
ABLATIONS = (
    ("paper scheme: stochastic, TPR, GradScale current", "q4", {}),
    ("TPR off (both GEMMs phase 0)", "q4", {"tpr": False}),
    ("nearest rounding", "q4", {"rounding": "nearest"}),
    ("nearest rounding, TPR off", "q4", {"rounding": "nearest", "tpr": False}),
    ("GradScale delayed", "q4", {"grad_scale": "delayed"}),
    ("GradScale off (g = 0)", "q4", {"grad_scale": "off", "fixed_scale_exp": 0}),
    ("FP16 accumulation", "q4", {"accumulate": "fp16"}),
    ("all layers 4-bit (first/last too)", "q4-all", {}),
)


def _ablation_table(rows, models, fp32) -> str:
    lines = ["| variant | " + " | ".join(f"{m.upper()} acc % (mean ± std)" for m in models)
             + " | " + " | ".join(f"{m.upper()} gap to FP32 (pt)" for m in models) + " |",
             "|---|" + "---|" * (2 * len(models))]
    for name, _, _ in ABLATIONS:
        accs, gaps = [], []
        for m in models:
            v = [r["final_acc"] for r in rows if r["variant"] == name and r["model"] == m]
            accs.append(f"{np.mean(v):.2f} ± {np.std(v):.2f}")
            # The gap of the printed (2-decimal) figures, so that the table's columns agree.
            gaps.append(f"{round(fp32[m], 2) - round(float(np.mean(v)), 2):+.2f}")
        lines.append(f"| {name} | " + " | ".join(accs) + " | " + " | ".join(gaps) + " |")
    return "\n".join(lines)


#: The reports of one ``golden.train`` command (see the module docstring).
REPORTS = ("train.json", "train.png", "ablations.json", "ablations.md")


def _write(path: Path, text: str) -> None:
    """Write a report through a temporary file renamed into place (never half a file)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=output_dir, default=Path("build/reports"))
    ap.add_argument("--models", default="mlp,cnn", help="comma-separated subset of mlp,cnn")
    ap.add_argument("--seeds", type=positive_int, default=5)
    ap.add_argument("--epochs", type=positive_int, default=None,
                    help="override every model's epochs")
    ap.add_argument("--rounding", choices=("stochastic", "nearest"), default="stochastic")
    ap.add_argument("--no-tpr", action="store_true", help="quantize dY once, phase 0 for both")
    ap.add_argument("--grad-scale", choices=("current", "delayed", "off"), default="current")
    ap.add_argument("--fixed-scale-exp", type=int, default=None,
                    help="g for --grad-scale off (default 0)")
    ap.add_argument("--accumulate", choices=("exact", "fp16"), default="exact")
    ap.add_argument("--all-q4", action="store_true",
                    help="4-bit first and last layers too (pixels quantized to UINT4)")
    ap.add_argument("--backend", choices=("table", "reference"), default="table",
                    help="4-bit arithmetic: the table-driven backend or the reference "
                         "functions (bit-identical, slower)")
    ap.add_argument("--ablations", action="store_true",
                    help="also run the ablation table (the flags above are then ignored)")
    ap.add_argument("--ablation-seeds", type=positive_int, default=None,
                    help="seeds per ablation variant (default: --seeds)")
    args = ap.parse_args(argv)
    from threadpoolctl import threadpool_limits
    from tqdm import tqdm

    # One BLAS thread: the matrices are small, and a shared machine makes threads pure overhead
    # (and the FP32 vs 4-bit timing unfair).
    threadpool_limits(1)

    models = [m for m in args.models.split(",") if m]
    if not models:
        ap.error("--models names no model")
    for m in models:
        if m not in MODELS:
            ap.error(f"--models: unknown model {m!r} (known: {', '.join(MODELS)})")
        if models.count(m) > 1:
            ap.error(f"--models names {m!r} twice: each model is trained once per seed")
    if args.fixed_scale_exp is not None and args.grad_scale != "off":
        ap.error(f"--fixed-scale-exp is only used with --grad-scale off, not with "
                 f"--grad-scale {args.grad_scale}")
    if args.ablation_seeds is not None and not args.ablations:
        ap.error("--ablation-seeds is only used with --ablations")
    if args.ablation_seeds is not None and args.ablation_seeds > args.seeds:
        # The ablation table's FP32 reference is the mean of the main runs of those seeds.
        ap.error(f"--ablation-seeds {args.ablation_seeds} exceeds --seeds {args.seeds}")
    seeds = list(range(1, args.seeds + 1))
    try:
        config = QuantConfig(rounding=args.rounding, tpr=not args.no_tpr,
                             grad_scale=args.grad_scale,
                             fixed_scale_exp=args.fixed_scale_exp or 0,
                             accumulate=args.accumulate)
    except (TypeError, ValueError) as err:
        ap.error(str(err))
    q4_policy = "q4-all" if args.all_q4 else "q4"
    data = load_digits_split()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in REPORTS:
        (args.out / name).unlink(missing_ok=True)

    def n_epochs(m):
        return args.epochs or HPARAMS[m]["epochs"]

    # One backend for every run; its quantizer tables are built before any epoch is timed.
    backend = TableBackend().prepare(range(0, 24)) if args.backend == "table" else NumpyBackend()
    rows = []
    total = sum(2 * len(seeds) * n_epochs(m) for m in models)
    with tqdm(total=total, unit="epoch", desc="train") as bar:
        for m in models:
            for seed in seeds:
                # FP32 and 4-bit epochs alternate seed by seed, so the timing ratio compares
                # epochs run under the same machine load.
                rows.append(train_run(m, "fp32", seed, data=data, epochs=args.epochs,
                                      progress=bar))
                row = train_run(m, q4_policy, seed, data=data, config=config,
                                backend=backend, epochs=args.epochs, progress=bar)
                row["policy"] = "q4"
                row["q4_policy"] = q4_policy
                rows.append(row)
    summary = {m: summarize(rows, m) for m in models}
    speed = {m: epoch_times(rows, m) for m in models}
    report = {"command": "python -m golden.train " + " ".join(argv or __import__("sys").argv[1:]),
              "split": "sklearn digits, train_test_split(test_size=0.25, stratify, "
                       "random_state=0): 1347 train / 450 test",
              "q4_policy": q4_policy, "config": asdict(config),
              "hparams": {m: HPARAMS[m] for m in models}, "summary": summary,
              "epoch_time": speed, "runs": rows}
    _write(args.out / "train.json", json.dumps(report, indent=1))
    plot(rows, args.out / "train.png", models)
    print(f"\n{'model':6} {'FP32 %':>14} {'4-bit %':>14} {'gap pt':>7} {'seeds':>5} "
          f"{'epoch s fp32/q4':>16} {'ratio':>6} {'median':>6}")
    for m in models:
        s, t = summary[m], speed[m]
        print(f"{m:6} {s['fp32_mean']:8.2f} ±{s['fp32_std']:4.2f} {s['q4_mean']:8.2f} "
              f"±{s['q4_std']:4.2f} {s['gap_pt']:7.2f} {s['seeds']:5d} "
              f"{t['fp32_epoch_s']:7.3f}/{t['q4_epoch_s']:<7.3f} {t['ratio']:6.2f} "
              f"{t['ratio_median']:6.2f}")
    print(f"wrote {args.out / 'train.json'} and {args.out / 'train.png'}")
    if args.ablations:
        run_ablations(args, models, data, rows, backend)


def run_ablations(args, models, data, rows, backend):
    from tqdm import tqdm

    seeds = list(range(1, (args.ablation_seeds or args.seeds) + 1))
    fp32 = {m: float(np.mean([r["final_acc"] for r in rows if r["model"] == m
                              and r["policy"] == "fp32" and r["seed"] in seeds]))
            for m in models}
    ab_rows = []
    total = sum(len(ABLATIONS) * len(seeds) * (args.epochs or HPARAMS[m]["epochs"])
                for m in models)
    with tqdm(total=total, unit="epoch", desc="ablations") as bar:
        for name, policy, over in ABLATIONS:
            cfg = replace(QuantConfig(), **over)
            for m in models:
                for seed in seeds:
                    row = train_run(m, policy, seed, data=data, config=cfg, backend=backend,
                                    epochs=args.epochs, progress=bar)
                    row["variant"] = name
                    ab_rows.append(row)
    table = _ablation_table(ab_rows, models, fp32)
    cmd = "python -m golden.train " + " ".join(__import__("sys").argv[1:])
    _write(args.out / "ablations.json", json.dumps(
        {"command": cmd, "fp32_mean": fp32, "seeds": len(seeds), "runs": ab_rows}, indent=1))
    _write(args.out / "ablations.md", f"Command: `{cmd}`\n\nFP32 reference: "
           + ", ".join(f"{m.upper()} {fp32[m]:.2f} %" for m in models)
           + f" (seeds {seeds[0]}..{seeds[-1]})\n\n" + table + "\n")
    print("\n" + table)
    print(f"wrote {args.out / 'ablations.json'} and {args.out / 'ablations.md'}")


if __name__ == "__main__":
    main()
