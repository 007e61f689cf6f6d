"""``make train-formats``: the 4-bit format shoot-out, FP32 against each 4-bit scheme.

    python -m experiments.shootout --out build/reports                    # digits, 5 seeds
    python -m experiments.shootout --dataset fashion-mnist --models mlp   # 3 seeds

Every seed trains FP32 and then each scheme of ``--formats`` (default: the paper's INT4/R4
scheme ``q4``, ``mxfp4`` and ``nvfp4``) with the same model, data order and hyper-parameters;
first and last layers stay FP32 in every scheme. ``--formats`` also takes the mixes
``q4+mxfp4grad`` (the paper's forward, MXFP4 gradients) and ``mxfp4+r4grad`` (MXFP4's
forward, the paper's R4 + TPR gradients), which tell which half of a scheme costs accuracy
(run only when named). Writes ``formats.json`` (summary and per-run
rows) and ``formats.md`` (the table), with the data set in the name beside digits
(``formats_mnist1d.md``). ``--quantize-last-input`` quantizes the FP32 last layer's input
to the format in the FP4 schemes too, as ``q4``'s last layer reads PACT codes (reports
``formats*_lastq.*``). docs/training.md, "Format shoot-out", explains the counters.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from experiments.data import DATASETS, DatasetError, fingerprint, load
from experiments.models import FORMAT_POLICIES, MIX_POLICIES, MODELS, hparams_of
from experiments.report import summarize, write_report
from experiments.pool import run_all
from golden.cli import output_dir, positive_int
from nn.blockfp import BLOCK_FORMATS
from nn.layers import split_precision

#: Each scheme's name in the table and the counters summed over a run (QuantConfig defaults:
#: stochastic gradient rounding for every scheme).
LABELS = {"q4": "INT4 SAWB/PACT + R4 TPR (paper)", "mxfp4": "MXFP4 (E2M1, E8M0 / 32)",
          "nvfp4": "NVFP4 (E2M1, E4M3 / 16, FP32)",
          "q4+mxfp4grad": "mix: INT4 SAWB/PACT forward + MXFP4 gradients",
          "mxfp4+r4grad": "mix: MXFP4 forward + R4 TPR gradients"}
#: What ``--formats`` accepts: the shoot-out's schemes (the default) and the mixes.
KNOWN_FORMATS = FORMAT_POLICIES + MIX_POLICIES


def _uses_backend(policy: str) -> bool:
    """Whether a scheme's hidden layers call the golden backend (a q4 forward's GEMM or
    the R4 gradient quantizer), so that it gets the one prepared backend."""
    fwd, grad = split_precision(policy)
    return fwd == "q4" or grad == "r4"


def _counters(row: dict) -> tuple[float, float | None]:
    """Saturated and underflowed shares (%) of the elements one run quantized: for q4 its R4
    gradients' saturations (underflow is not counted), for the FP4 formats every operand's,
    for a mix those of its gradient quantizer alone (R4: saturations; MXFP4: both)."""
    st = row["stats"]
    if split_precision(row["policy"])[1] == "r4":
        return 100 * st["grad_saturated"] / st["grad_quantized"], None
    n = st["fmt_elements"]
    return 100 * st["fmt_saturated"] / n, 100 * st["fmt_underflow"] / n


def table(rows, models, formats) -> str:
    """The Markdown shoot-out table: mean +- std of the final test accuracy per scheme and
    model, the gap to FP32 and the counters as shares of the quantized elements, mean over
    runs."""
    out = ["| model | scheme | test accuracy % | gap to FP32 (pt) | saturated % | "
           "underflowed to 0 % |", "|---|---|---|---|---|---|"]
    for m in models:
        base = summarize(rows, m, other=formats[0])
        out.append(f"| {m} | FP32 | {base['fp32_mean']:.2f} ± {base['fp32_std']:.2f} | | | |")
        for f in formats:
            s = summarize(rows, m, other=f)
            sat, und = zip(*(_counters(r) for r in rows if r["model"] == m
                             and r["policy"] == f))
            fmt = (lambda v: "not counted" if v[0] is None else f"{np.mean(v):.3f}")
            out.append(f"| {m} | {LABELS[f]} | {s['q4_mean']:.2f} ± {s['q4_std']:.2f} | "
                       f"{s['gap_pt']:.2f} | {fmt(sat)} | {fmt(und)} |")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=output_dir, default=Path("build/reports"))
    ap.add_argument("--dataset", choices=DATASETS, default="digits")
    ap.add_argument("--data-dir", default=None,
                    help="directory of the Fashion-MNIST IDX files (default: the Debian "
                         "package's)")
    ap.add_argument("--models", default="mlp,cnn", help="comma-separated subset of mlp,cnn")
    ap.add_argument("--formats", default=",".join(FORMAT_POLICIES),
                    help=f"comma-separated subset of {','.join(KNOWN_FORMATS)} (default: "
                         f"{','.join(FORMAT_POLICIES)})")
    ap.add_argument("--seeds", type=positive_int, default=None,
                    help="seeds per scheme (default 5 on digits, 3 on the larger sets)")
    ap.add_argument("--epochs", type=positive_int, default=None,
                    help="override every model's epochs")
    ap.add_argument("--jobs", type=positive_int, default=1,
                    help="training runs side by side in this many processes (default 1; "
                         "a run's result does not depend on it)")
    ap.add_argument("--quantize-last-input", action="store_true",
                    help="FP4 schemes: quantize the last layer's input to the format too")
    args = ap.parse_args(argv)
    from threadpoolctl import threadpool_limits
    from tqdm import tqdm

    threadpool_limits(1)
    lists = {}
    for what, known in (("models", MODELS), ("formats", KNOWN_FORMATS)):
        items = [x for x in getattr(args, what).split(",") if x]
        bad = [x for x in items if x not in known]
        if not items or bad or len(set(items)) != len(items):
            ap.error(f"--{what} must name each of {', '.join(known)} at most once, "
                     f"not {getattr(args, what)!r}")
        lists[what] = items
    models, formats = lists["models"], lists["formats"]
    if args.data_dir is not None and args.dataset != "fashion-mnist":
        ap.error("--data-dir is only used with --dataset fashion-mnist")
    seeds = range(1, (args.seeds or (5 if args.dataset == "digits" else 3)) + 1)
    try:
        data = load(args.dataset, args.data_dir)
    except DatasetError as err:
        raise SystemExit(f"experiments.shootout: {err}") from None
    tag = ("" if args.dataset == "digits" else f"_{args.dataset}") + (
        "_lastq" if args.quantize_last_input else "")
    paths = {k: args.out / f"formats{tag}.{k}" for k in ("json", "md")}
    args.out.mkdir(parents=True, exist_ok=True)
    for p in paths.values():
        p.unlink(missing_ok=True)
    hp = hparams_of(args.dataset)
    tasks = []
    for m in models:
        for seed in seeds:
            for policy in ("fp32", *formats):
                fp4 = split_precision(policy)[0] in BLOCK_FORMATS
                tasks.append(dict(model=m, policy=policy, seed=seed, epochs=args.epochs,
                                  backend="table" if _uses_backend(policy) else None,
                                  quantize_last_input=fp4 and args.quantize_last_input))
    total = sum(args.epochs or hp[t["model"]]["epochs"] for t in tasks)
    with tqdm(total=total, unit="epoch", desc=f"formats {args.dataset}") as bar:
        rows = run_all(tasks, jobs=args.jobs, data=data, data_dir=args.data_dir, bar=bar)
    cmd = "python -m experiments.shootout " + " ".join(argv or sys.argv[1:])
    text = table(rows, models, formats)
    write_report(paths["json"], json.dumps(
        {"command": cmd, "dataset": args.dataset, "fingerprint": fingerprint(data),
         "seeds": len(seeds), "formats": formats,
         "quantize_last_input": args.quantize_last_input,
         "summary": {m: {f: summarize(rows, m, other=f) for f in formats} for m in models},
         "runs": rows}, indent=1))
    write_report(paths["md"], f"Command: `{cmd}`\n\n{text}\n")
    print("\n" + text)
    print(f"wrote {paths['json']} and {paths['md']}")


if __name__ == "__main__":
    main()
