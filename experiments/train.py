"""``make train``: FP32 vs 4-bit training of an MLP and a small CNN on a data set.

    python -m experiments.train --out build/reports                 # digits (5 seeds each)
    python -m experiments.train --out build/reports --ablations     # + the ablation table
    python -m experiments.train --dataset fashion-mnist             # 3 seeds, + all-layers 4-bit
    python -m experiments.train --format mxfp4                      # hidden layers in MXFP4

On a data set other than digits the main table also trains every seed with all layers 4-bit
(``q4-all``), and the report names carry the data set: ``train_fashion-mnist.json``, ...

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

from golden.cli import output_dir, positive_int
from experiments.data import DATASETS, Dataset, DatasetError, fingerprint, load
from experiments.models import (ARCH, FORMAT_POLICIES, HPARAMS, MODELS, build_model,
                                hparams_of, model_inputs)
from experiments.pool import run_all
from experiments.report import ablation_table, epoch_times, plot, summarize, write_report
from golden.backend import Backend, TableBackend
from golden.checks import check_int
from nn import QuantConfig, Sequential, Sgd, StepContext, softmax_xent
from nn.context import PHASE1_SCALES


def evaluate(net: Sequential, model: str, x, y, ctx, batch=512,
             image_shape=(1, 8, 8)) -> float:
    """Test accuracy in percent (forward pass only, same arithmetic as training)."""
    correct = 0
    for i in range(0, len(x), batch):
        logits = net.forward(model_inputs(model, x[i:i + batch], image_shape), ctx)
        correct += int((logits.argmax(axis=1) == y[i:i + batch]).sum())
    return 100.0 * correct / len(x)


def train_run(model: str, policy: str, seed: int, *, data: Dataset, config=QuantConfig(),
              backend: Backend | None = None, epochs=None, lr=None, batch=None,
              pact_alpha=None, max_steps=None, progress=None, on_start=None,
              on_step=None, quantize_last_input=False) -> dict:
    """One training run; returns its row (accuracy per epoch, epoch times, counters).

    ``on_start(net, ctx)`` is called once the model and its step context exist, ``on_step(ctx,
    loss)`` after every optimizer step (``ctx.step`` already counts it): hooks for a driver
    that follows the run, such as the RTL run's lockstep check (sim/train_rtl.py).
    ``quantize_last_input``: see experiments.models.build_model (FP4 policies only).
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, not {model!r}")
    check_int(seed, "seed", 0, "a non-negative integer")
    hp = dict(hparams_of(data.name)[model])
    for k, v in (("epochs", epochs), ("lr", lr), ("batch", batch), ("pact_alpha", pact_alpha)):
        if v is not None:
            hp[k] = v
    for k in ("epochs", "batch"):
        check_int(hp[k], k)
    if max_steps is not None:
        check_int(max_steps, "max_steps", 1, "a positive integer or None")
    rng = np.random.default_rng(seed)
    net = build_model(model, policy, rng, pact_alpha=hp["pact_alpha"],
                      image_shape=data.image_shape, n_classes=data.n_classes,
                      quantize_last_input=quantize_last_input, **ARCH.get(data.name, {}))
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
            logits = net.forward(model_inputs(model, data.x_train[idx], data.image_shape), ctx)
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
        acc.append(evaluate(net, model, data.x_test, data.y_test, ctx,
                            image_shape=data.image_shape))
        if progress is not None:
            progress.update(1)
            progress.set_postfix_str(f"{model} {policy} seed {seed} epoch {epoch + 1}/"
                                     f"{hp['epochs']}: {acc[-1]:.1f}%")
        if max_steps is not None and ctx.step >= max_steps:
            break
    return {"model": model, "policy": policy, "seed": seed, "dataset": data.name,
            "config": asdict(config),
            "hparams": hp, "quantize_last_input": quantize_last_input, "test_acc": acc, "final_acc": acc[-1], "train_loss": losses,
            "epoch_s": times, "stats": dict(ctx.stats),
            "alphas": {l.name: float(l.params["alpha"]) for l in params if "alpha" in l.params}}


#: Ablation variants of the 4-bit run: (name, policy, QuantConfig overrides).
ABLATIONS = (
    ("paper scheme: stochastic, TPR, GradScale current", "q4", {}),
    ("TPR off (both GEMMs phase 0)", "q4", {"tpr": False}),
    ("nearest rounding", "q4", {"rounding": "nearest"}),
    ("nearest rounding, TPR off", "q4", {"rounding": "nearest", "tpr": False}),
    ("GradScale delayed", "q4", {"grad_scale": "delayed"}),
    ("GradScale off (g = 0)", "q4", {"grad_scale": "off", "fixed_scale_exp": 0}),
    ("FP16 accumulation", "q4", {"accumulate": "fp16"}),
    ("phase-1 scale shift-up (g - 2)", "q4", {"phase1_scale": "shift-up"}),
    ("all layers 4-bit (first/last too)", "q4-all", {}),
)


#: The reports of one ``experiments.train`` command (see the module docstring); other data sets
#: than digits add their name: train_fashion-mnist.json, ablations_mnist1d.md, ...
REPORTS = ("train.json", "train.png", "ablations.json", "ablations.md")


def report_names(dataset: str) -> dict:
    """The report file of each kind for ``dataset`` (digits keeps the plain names)."""
    tag = "" if dataset == "digits" else f"_{dataset}"
    return {r: r.replace(".", f"{tag}.", 1) for r in REPORTS}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=output_dir, default=Path("build/reports"))
    ap.add_argument("--dataset", choices=DATASETS, default="digits",
                    help="the data set (experiments/data.py; default digits)")
    ap.add_argument("--data-dir", default=None,
                    help="directory of the Fashion-MNIST IDX files (default: the Debian "
                         "package's, /usr/share/datasets/fashion-mnist)")
    ap.add_argument("--phase1-scale", choices=PHASE1_SCALES, default="shared",
                    help="TPR phase-1 scale exponent: g (shared) or g - 2 (shift-up)")
    ap.add_argument("--models", default="mlp,cnn", help="comma-separated subset of mlp,cnn")
    ap.add_argument("--seeds", type=positive_int, default=None,
                    help="seeds per policy (default 5 on digits, 3 on the larger sets)")
    ap.add_argument("--epochs", type=positive_int, default=None,
                    help="override every model's epochs")
    ap.add_argument("--rounding", choices=("stochastic", "nearest"), default="stochastic")
    ap.add_argument("--no-tpr", action="store_true", help="quantize dY once, phase 0 for both")
    ap.add_argument("--grad-scale", choices=("current", "delayed", "off"), default="current")
    ap.add_argument("--fixed-scale-exp", type=int, default=None,
                    help="g for --grad-scale off (default 0)")
    ap.add_argument("--accumulate", choices=("exact", "fp16"), default="exact")
    ap.add_argument("--format", choices=FORMAT_POLICIES, default="q4",
                    help="the 4-bit scheme of the hidden layers: the paper's (q4, default) or "
                         "a block-scaled FP4 format (make train-formats compares them all)")
    ap.add_argument("--all-q4", action="store_true",
                    help="4-bit first and last layers too (pixels quantized to UINT4)")
    ap.add_argument("--backend", choices=("table", "reference"), default="table",
                    help="4-bit arithmetic: the table-driven backend or the reference "
                         "functions (bit-identical, slower)")
    ap.add_argument("--jobs", type=positive_int, default=1,
                    help="training runs side by side in this many processes (default 1; "
                         "a run's result does not depend on it)")
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
    if args.format != "q4":
        # Only --rounding reaches a block-scaled format; the rest is the paper's scheme.
        q4_only = {"--all-q4": args.all_q4, "--ablations": args.ablations,
                   "--no-tpr": args.no_tpr, "--grad-scale": args.grad_scale != "current",
                   "--fixed-scale-exp": args.fixed_scale_exp is not None,
                   "--accumulate": args.accumulate != "exact",
                   "--phase1-scale": args.phase1_scale != "shared",
                   "--backend": args.backend != "table"}
        given = [flag for flag, on in q4_only.items() if on]
        if given:
            ap.error(f"{', '.join(given)}: options of the paper's scheme, not of "
                     f"--format {args.format}")
    if args.seeds is None:
        args.seeds = 5 if args.dataset == "digits" else 3
    if args.data_dir is not None and args.dataset != "fashion-mnist":
        ap.error("--data-dir is only used with --dataset fashion-mnist")
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
                             accumulate=args.accumulate, phase1_scale=args.phase1_scale)
    except (TypeError, ValueError) as err:
        ap.error(str(err))
    q4_policy = "q4-all" if args.all_q4 else args.format
    try:
        data = load(args.dataset, args.data_dir)
    except DatasetError as err:
        raise SystemExit(f"experiments.train: {err}") from None
    hparams = hparams_of(args.dataset)
    names = report_names(args.dataset)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in names.values():
        (args.out / name).unlink(missing_ok=True)

    def n_epochs(m):
        return args.epochs or hparams[m]["epochs"]

    # Beside the main table, the larger sets also train every layer in 4 bits.
    beside = args.dataset != "digits" and q4_policy == "q4"
    tasks, main_q4 = [], []          # main_q4: the 4-bit runs of the main table
    for m in models:
        for seed in seeds:
            # FP32 and 4-bit runs alternate seed by seed, so the timing ratio compares epochs
            # run under the same machine load.
            tasks.append(dict(model=m, policy="fp32", seed=seed, epochs=args.epochs,
                              backend=None))
            main_q4.append(len(tasks))
            tasks.append(dict(model=m, policy=q4_policy, seed=seed, config=config,
                              epochs=args.epochs, backend=args.backend))
            if beside:
                tasks.append(dict(model=m, policy="q4-all", seed=seed, config=config,
                                  epochs=args.epochs, backend=args.backend))
    total = sum(args.epochs or hparams[t["model"]]["epochs"] for t in tasks)
    with tqdm(total=total, unit="epoch", desc=f"train {args.dataset}") as bar:
        rows = run_all(tasks, jobs=args.jobs, data=data, data_dir=args.data_dir, bar=bar)
    for i in main_q4:
        rows[i]["policy"], rows[i]["q4_policy"] = "q4", q4_policy
    summary = {m: summarize(rows, m) for m in models}
    if beside:
        for m in models:
            s = summarize(rows, m, other="q4-all")
            summary[m] |= {"q4_all_mean": s["q4_mean"], "q4_all_std": s["q4_std"],
                           "q4_all_gap_pt": s["gap_pt"]}
    speed = {m: epoch_times(rows, m) for m in models}
    report = {"command": "python -m experiments.train " + " ".join(argv or __import__("sys").argv[1:]),
              "dataset": args.dataset, "fingerprint": fingerprint(data),
              "split": f"{len(data.x_train)} train / {len(data.x_test)} test"
                       + (" (sklearn train_test_split(test_size=0.25, stratify, "
                          "random_state=0))" if args.dataset == "digits" else ""),
              "q4_policy": q4_policy, "config": asdict(config),
              "hparams": {m: hparams[m] for m in models}, "summary": summary,
              "epoch_time": speed, "runs": rows}
    write_report(args.out / names["train.json"], json.dumps(report, indent=1))
    plot(rows, args.out / names["train.png"], models, data.name)
    print(f"\n{'model':6} {'FP32 %':>14} {'4-bit %':>14} {'gap pt':>7} {'seeds':>5} "
          f"{'epoch s fp32/q4':>16} {'ratio':>6} {'median':>6}")
    for m in models:
        s, t = summary[m], speed[m]
        print(f"{m:6} {s['fp32_mean']:8.2f} ±{s['fp32_std']:4.2f} {s['q4_mean']:8.2f} "
              f"±{s['q4_std']:4.2f} {s['gap_pt']:7.2f} {s['seeds']:5d} "
              f"{t['fp32_epoch_s']:7.3f}/{t['q4_epoch_s']:<7.3f} {t['ratio']:6.2f} "
              f"{t['ratio_median']:6.2f}")
        if beside:
            print(f"{'':6} all layers 4-bit: {s['q4_all_mean']:.2f} ±{s['q4_all_std']:4.2f} "
                  f"(gap {s['q4_all_gap_pt']:.2f} pt)")
    print(f"wrote {args.out / names['train.json']} and {args.out / names['train.png']}")
    if args.ablations:
        run_ablations(args, models, data, rows, names)


def run_ablations(args, models, data, rows, names):
    from tqdm import tqdm

    seeds = list(range(1, (args.ablation_seeds or args.seeds) + 1))
    fp32 = {m: float(np.mean([r["final_acc"] for r in rows if r["model"] == m
                              and r["policy"] == "fp32" and r["seed"] in seeds]))
            for m in models}
    hparams = hparams_of(args.dataset)
    tasks, variants = [], []
    for name, policy, over in ABLATIONS:
        cfg = replace(QuantConfig(), **over)
        for m in models:
            for seed in seeds:
                tasks.append(dict(model=m, policy=policy, seed=seed, config=cfg,
                                  epochs=args.epochs, backend=args.backend))
                variants.append(name)
    total = sum(args.epochs or hparams[t["model"]]["epochs"] for t in tasks)
    with tqdm(total=total, unit="epoch", desc="ablations") as bar:
        ab_rows = run_all(tasks, jobs=args.jobs, data=data, data_dir=args.data_dir, bar=bar)
    for row, name in zip(ab_rows, variants):
        row["variant"] = name
    table = ablation_table(ab_rows, models, fp32, [name for name, _, _ in ABLATIONS])
    cmd = "python -m experiments.train " + " ".join(__import__("sys").argv[1:])
    write_report(args.out / names["ablations.json"], json.dumps(
        {"command": cmd, "fp32_mean": fp32, "seeds": len(seeds), "runs": ab_rows}, indent=1))
    write_report(args.out / names["ablations.md"], f"Command: `{cmd}`\n\nFP32 reference: "
           + ", ".join(f"{m.upper()} {fp32[m]:.2f} %" for m in models)
           + f" (seeds {seeds[0]}..{seeds[-1]})\n\n" + table + "\n")
    print("\n" + table)
    print(f"wrote {args.out / names['ablations.json']} and {args.out / names['ablations.md']}")


if __name__ == "__main__":
    main()
