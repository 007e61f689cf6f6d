"""The reports of the experiments: summaries, epoch-time ratios, the ablation table, plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np


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


def plot(rows, path: Path, models, data_name: str = "digits"):
    """Test accuracy per epoch of each model: mean and min..max band over seeds, per policy."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(models), figsize=(5.5 * len(models), 4), squeeze=False)
    for ax, model in zip(axes[0], models):
        for policy, colour, label in (("fp32", "tab:blue", "FP32"), ("q4", "tab:red", "4-bit"),
                                      ("q4-all", "tab:green", "all layers 4-bit")):
            curves = np.array([r["test_acc"] for r in rows
                               if r["model"] == model and r["policy"] == policy])
            if not len(curves):
                continue
            ep = np.arange(1, curves.shape[1] + 1)
            ax.plot(ep, curves.mean(0), color=colour, label=f"{label} (mean of {len(curves)})")
            ax.fill_between(ep, curves.min(0), curves.max(0), color=colour, alpha=0.2)
        ax.set_title(f"{data_name}, {model.upper()}")
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy (%)")
        finals = [r["final_acc"] for r in rows if r["model"] == model]
        ax.set_ylim(max(0.0, 5 * np.floor(min(finals) / 5) - 10), 100)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def separates(a, b) -> bool:
    """Whether two sets of final accuracies differ beyond the seed noise: the difference of
    the means exceeds twice its standard error (Welch, sample standard deviations)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2:
        return False
    se = np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    return bool(abs(a.mean() - b.mean()) > 2 * se)


def ablation_table(rows, models, fp32, variants) -> str:
    """The Markdown ablation table: per variant name, accuracy and gap to ``fp32`` per model,
    a star where the variant differs from the first (the paper scheme) beyond the seed noise,
    and the mean R4 saturation count per run (of it, phase 1)."""
    lines = ["| variant | " + " | ".join(f"{m.upper()} acc % (mean ± std)" for m in models)
             + " | " + " | ".join(f"{m.upper()} gap to FP32 (pt)" for m in models)
             + " | " + " | ".join(f"{m.upper()} saturated (phase 1)" for m in models) + " |",
             "|---|" + "---|" * (3 * len(models))]
    base = variants[0]
    for name in variants:
        accs, gaps, sats = [], [], []
        for m in models:
            sel = [r for r in rows if r["variant"] == name and r["model"] == m]
            v = [r["final_acc"] for r in sel]
            ref = [r["final_acc"] for r in rows if r["variant"] == base and r["model"] == m]
            mark = " *" if name != base and separates(v, ref) else ""
            accs.append(f"{np.mean(v):.2f} ± {np.std(v):.2f}{mark}")
            # The gap of the printed (2-decimal) figures, so that the table's columns agree.
            gaps.append(f"{round(fp32[m], 2) - round(float(np.mean(v)), 2):+.2f}")
            total = np.mean([r["stats"]["grad_saturated"] for r in sel])
            phase1 = np.mean([r["stats"].get("grad_saturated_phase1", 0) for r in sel])
            sats.append(f"{total:.0f} ({phase1:.0f})")
        lines.append(f"| {name} | " + " | ".join(accs) + " | " + " | ".join(gaps) + " | "
                     + " | ".join(sats) + " |")
    lines += ["", "`*`: differs from the paper scheme beyond the seed noise (difference of the "
              "means above twice its standard error). Saturated: R4 elements per run that "
              "saturated, mean over seeds (in brackets: of them, in phase 1)."]
    return "\n".join(lines)


def write_report(path: Path, text: str) -> None:
    """Write a report through a temporary file renamed into place (never half a file)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
