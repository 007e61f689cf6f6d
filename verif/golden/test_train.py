"""experiments.train: a seconds-long smoke run of the ``make train`` entry point (ablations
included), the summary arithmetic, and argument checks."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import pytest

from experiments.data import load_digits_split
from nn import QuantConfig
from experiments.report import ablation_table, epoch_times, separates, summarize
from experiments.train import ABLATIONS, main, train_run

#: One test image in 450 is 100/450 = 0.2222... percentage points.
ONE = 100 / 450


def test_train_smoke_with_ablations(tmp_path):
    """The CLI's main table and its ablation path, one seed and one epoch each: train.json
    with its summary, and ablations.json/.md with one run per ablation variant, each run with
    that variant's policy and QuantConfig."""
    main(["--out", str(tmp_path), "--models", "mlp", "--seeds", "1", "--epochs", "1",
          "--ablations", "--ablation-seeds", "1"])
    report = json.loads((tmp_path / "train.json").read_text())
    s = report["summary"]["mlp"]
    assert set(s) >= {"fp32_mean", "q4_mean", "gap_pt", "seeds"} and s["seeds"] == 1
    assert s["gap_pt"] == round(s["fp32_mean"] - s["q4_mean"], 3)
    assert {r["policy"] for r in report["runs"]} == {"fp32", "q4"}
    t = report["epoch_time"]["mlp"]
    assert t["ratio"] > 0 and t["ratio_median"] > 0
    assert (tmp_path / "train.png").stat().st_size > 0

    ab = json.loads((tmp_path / "ablations.json").read_text())
    assert ab["seeds"] == 1 and set(ab["fp32_mean"]) == {"mlp"}
    assert [r["variant"] for r in ab["runs"]] == [name for name, _, _ in ABLATIONS]
    for (name, policy, over), run in zip(ABLATIONS, ab["runs"]):
        assert (run["model"], run["seed"], run["policy"]) == ("mlp", 1, policy), name
        assert run["config"] == asdict(replace(QuantConfig(), **over)), name
        assert len(run["test_acc"]) == 1 and 0 <= run["final_acc"] <= 100
    md = (tmp_path / "ablations.md").read_text()
    assert all(f"| {name} |" in md for name, _, _ in ABLATIONS)


def _rows(model, policy, accs):
    return [{"model": model, "policy": policy, "final_acc": a} for a in accs]


def test_summarize_gap_is_the_difference_of_the_reported_means():
    """Means 99.9556 and 99.9111 (five seeds, one and two test images missed): reported
    99.956 and 99.911, so gap_pt is 0.045; rounding the unrounded difference 0.0444 would
    give 0.044, which disagrees with the two means printed beside it."""
    rows = (_rows("mlp", "fp32", [100.0] * 4 + [100 - ONE])
            + _rows("mlp", "q4", [100.0] * 3 + [100 - ONE] * 2)
            + _rows("cnn", "q4", [50.0]))
    s = summarize(rows, "mlp")
    assert (s["fp32_mean"], s["q4_mean"], s["gap_pt"], s["seeds"]) == (99.956, 99.911, 0.045, 5)
    assert round((100 - ONE / 5) - (100 - 2 * ONE / 5), 3) == 0.044     # the old figure
    # The identity on every pair of 1..5-seed means of 1..30 missed images.
    for n in range(1, 6):
        for a in range(0, 31):
            for b in range(0, 31, 7):
                rows = (_rows("m", "fp32", [100 - ONE * a / n] * n)
                        + _rows("m", "q4", [100 - ONE * b / n] * n))
                s = summarize(rows, "m")
                assert s["gap_pt"] == round(s["fp32_mean"] - s["q4_mean"], 3)


def test_summarize_without_runs_is_an_error():
    with pytest.raises(ValueError, match="needs cnn runs of both policies 'fp32' and 'q4': "
                                         "found 0 and 1"):
        summarize(_rows("cnn", "q4", [50.0]), "cnn")


def test_ablation_table_gap_is_the_difference_of_the_printed_figures():
    """FP32 97.5551 prints as 97.56 and a variant at 97.5449 as 97.54: the gap column says
    +0.02, their difference, not the +0.01 of the unrounded difference 0.0102."""
    rows = [{"variant": name, "model": "mlp", "final_acc": 97.5449,
             "stats": {"grad_saturated": 10, "grad_saturated_phase1": 10}}
            for name, _, _ in ABLATIONS]
    table = ablation_table(rows, ["mlp"], {"mlp": 97.5551}, [name for name, _, _ in ABLATIONS])
    first = table.splitlines()[2]
    assert first == f"| {ABLATIONS[0][0]} | 97.54 ± 0.00 | +0.02 | 10 (10) |"


def test_ablation_table_marks_differences_beyond_the_seed_noise():
    """A variant is starred when its mean differs from the paper scheme's by more than twice
    the standard error of the difference, and not otherwise."""
    stats = {"grad_saturated": 0}
    names = [name for name, _, _ in ABLATIONS]
    accs = {names[0]: (90.0, 90.2, 89.8), names[1]: (90.1, 89.9, 90.3),
            names[2]: (88.0, 88.2, 87.8)}
    rows = [{"variant": n, "model": "mlp", "final_acc": a, "stats": stats}
            for n in names for a in accs.get(n, (90.0,))]
    lines = ablation_table(rows, ["mlp"], {"mlp": 90.0}, names).splitlines()
    assert "*" not in lines[3] and "88.00 ± 0.16 *" in lines[4]
    assert separates([1.0, 1.1, 0.9], [2.0, 2.1, 1.9]) and not separates([1, 2, 3], [2, 3, 4])
    assert not separates([1.0], [5.0])                    # one seed: no noise estimate


def test_epoch_times_mean_and_median():
    rows = [{"model": "mlp", "policy": "fp32", "epoch_s": [1.0, 1.0, 4.0]},
            {"model": "mlp", "policy": "q4", "epoch_s": [3.0, 3.0, 3.0]},
            {"model": "cnn", "policy": "q4", "epoch_s": [9.0]}]
    t = epoch_times(rows, "mlp")
    assert t["fp32_epoch_s"] == 2.0 and t["q4_epoch_s"] == 3.0 and t["ratio"] == 1.5
    assert t["fp32_epoch_median_s"] == 1.0 and t["ratio_median"] == 3.0


@pytest.mark.parametrize("kw,error,match", [
    ({"model": "rnn"}, ValueError, "model must be one of"),
    ({"epochs": 0}, TypeError, "epochs must be a positive integer, not 0"),
    ({"batch": 0}, TypeError, "batch must be a positive integer, not 0"),
    ({"batch": 32.0}, TypeError, "batch must be a positive integer"),
    ({"max_steps": 0}, TypeError, "max_steps must be a positive integer or None"),
    ({"policy": "int8"}, ValueError, "policy must be one of"),
    ({"seed": -1}, TypeError, "seed must be a non-negative integer, not -1"),
    ({"seed": 1.5}, TypeError, "seed must be a non-negative integer, not 1.5"),
    ({"seed": "1"}, TypeError, "seed must be a non-negative integer, not '1'"),
])
def test_train_run_refuses_bad_arguments(kw, error, match):
    args = {"model": "mlp", "policy": "q4"} | kw
    data = load_digits_split()
    with pytest.raises(error, match=match):
        train_run(args.pop("model"), args.pop("policy"), args.pop("seed", 1), data=data, **args)


@pytest.mark.parametrize("argv,match", [
    (["--seeds", "0"], "--seeds: must be a positive integer"),
    (["--epochs", "0"], "--epochs: must be a positive integer"),
    (["--ablation-seeds", "0"], "--ablation-seeds: must be a positive integer"),
    (["--seeds", "2", "--ablations", "--ablation-seeds", "3"], "exceeds --seeds 2"),
    (["--grad-scale", "off", "--fixed-scale-exp", "500"], "fixed_scale_exp must be in"),
    (["--models", ","], "names no model"),
    (["--models", "rnn"], "unknown model 'rnn'"),
    (["--models", "mlp,mlp"], "--models names 'mlp' twice"),
    (["--fixed-scale-exp", "3"], "--fixed-scale-exp is only used with --grad-scale off, not "
                                 "with --grad-scale current"),
    (["--grad-scale", "delayed", "--fixed-scale-exp", "0"], "--fixed-scale-exp is only used"),
    (["--ablation-seeds", "1"], "--ablation-seeds is only used with --ablations"),
    (["--seeds", "x"], "--seeds: must be a positive integer, not 'x'"),
    (["--format", "mxfp4", "--all-q4"], "--all-q4: options of the paper's scheme, not of "
                                        "--format mxfp4"),
    (["--format", "nvfp4", "--ablations", "--no-tpr"], "--ablations, --no-tpr: options"),
    (["--format", "mxfp4", "--accumulate", "fp16"], "--accumulate: options"),
    (["--format", "fp8"], "argument --format: invalid choice"),
])
def test_cli_refuses_bad_arguments(argv, match, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["--out", str(tmp_path)] + argv)
    assert info.value.code == 2 and match in capsys.readouterr().err
    assert not (tmp_path / "train.json").exists()


@pytest.mark.parametrize("where", ["file", "file/sub"])
def test_cli_out_must_be_a_folder(where, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit) as info:
        main(["--out", str(tmp_path / where), "--models", "mlp", "--seeds", "1"])
    assert info.value.code == 2 and "argument --out" in capsys.readouterr().err


def test_a_run_never_leaves_another_commands_reports(tmp_path, monkeypatch):
    """Reports of an earlier command are gone as soon as a new one starts: an ablation run
    interrupted after its main table leaves that table alone, not beside old ablations."""
    for name in ("ablations.json", "ablations.md", "train.json", "train.png"):
        (tmp_path / name).write_text("from an earlier command")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("experiments.train.run_ablations", interrupted)
    with pytest.raises(KeyboardInterrupt):
        main(["--out", str(tmp_path), "--models", "mlp", "--seeds", "1", "--epochs", "1",
              "--ablations"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.json", "train.png"]
    assert "--ablations" in json.loads((tmp_path / "train.json").read_text())["command"]


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_models_follow_the_data_sets_shape(model):
    """A data set states its image shape and classes; the networks are built for them."""
    import numpy as np

    from experiments.models import build_model, model_inputs
    from nn import StepContext
    from golden.backend import TableBackend

    shape, classes = (2, 12, 10), 7
    net = build_model(model, "q4", np.random.default_rng(0), image_shape=shape,
                      n_classes=classes)
    x = np.random.default_rng(1).random((3, 2 * 12 * 10), dtype=np.float32)
    logits = net.forward(model_inputs(model, x, shape), StepContext(TableBackend()))
    assert logits.shape == (3, classes)


def test_load_names_the_data_sets():
    from experiments.data import LOADERS, load

    assert "digits" in LOADERS
    with pytest.raises(ValueError, match="data set must be one of"):
        load("mnist-9d")


def test_runs_in_worker_processes_give_the_rows_of_runs_in_turn():
    """``--jobs``: the same tasks run one after another and in two worker processes give the
    same rows, in the order given (only the epoch times may differ); a failing run raises."""
    from experiments.pool import run_all

    data = load_digits_split()
    tasks = [dict(model="mlp", policy=p, seed=s, epochs=1, max_steps=3,
                  backend=None if p == "fp32" else "table")
             for s in (1, 2) for p in ("fp32", "q4")]
    rows = {jobs: run_all(tasks, jobs=jobs, data=data) for jobs in (1, 2)}
    for row in rows[1] + rows[2]:
        row.pop("epoch_s")
    assert [(r["policy"], r["seed"]) for r in rows[2]] == [("fp32", 1), ("q4", 1),
                                                           ("fp32", 2), ("q4", 2)]
    assert json.dumps(rows[1]) == json.dumps(rows[2])
    with pytest.raises(TypeError, match="seed must be a non-negative integer"):
        run_all([dict(tasks[0], seed=-1)], jobs=2, data=data)
    with pytest.raises(ValueError, match="jobs must be a positive integer"):
        run_all(tasks, jobs=0, data=data)


def test_a_failing_run_ends_the_runs_in_flight():
    """With ``--jobs`` a run that fails stops the command at once: the runs in flight are
    ended, not waited for (here one that would never end) nor left running, and the error is
    raised."""
    import multiprocessing
    import threading
    import time

    from experiments.pool import run_all

    data = load_digits_split()
    # One epoch of minutes (the reference backend, batch 1): no epoch ends within the test.
    endless = dict(model="cnn", policy="q4", seed=1, epochs=10 ** 6, batch=1,
                   backend="reference")
    failing = dict(endless, seed=-1, epochs=1)
    raised = []

    def call():
        try:
            run_all([endless, failing], jobs=2, data=data)
        except TypeError as err:
            raised.append(err)

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    caller.join(timeout=180)
    assert not caller.is_alive(), "run_all waited for the endless run after the failure"
    assert raised and "seed must be a non-negative integer" in str(raised[0])
    deadline = time.monotonic() + 3            # ended at once, not at their next tick
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not multiprocessing.active_children(), "a worker still runs the endless run"
