"""golden.train: a seconds-long smoke run of the ``make train`` entry point."""

from __future__ import annotations

import json

from golden.train import epoch_times, main


def test_train_smoke(tmp_path):
    main(["--out", str(tmp_path), "--models", "mlp", "--seeds", "1", "--epochs", "1"])
    report = json.loads((tmp_path / "train.json").read_text())
    s = report["summary"]["mlp"]
    assert set(s) >= {"fp32_mean", "q4_mean", "gap_pt", "seeds"} and s["seeds"] == 1
    assert abs(s["gap_pt"] - (s["fp32_mean"] - s["q4_mean"])) < 1e-6
    assert {r["policy"] for r in report["runs"]} == {"fp32", "q4"}
    t = report["epoch_time"]["mlp"]
    assert t["ratio"] > 0 and t["ratio_median"] > 0
    assert (tmp_path / "train.png").stat().st_size > 0


def test_epoch_times_mean_and_median():
    rows = [{"model": "mlp", "policy": "fp32", "epoch_s": [1.0, 1.0, 4.0]},
            {"model": "mlp", "policy": "q4", "epoch_s": [3.0, 3.0, 3.0]},
            {"model": "cnn", "policy": "q4", "epoch_s": [9.0]}]
    t = epoch_times(rows, "mlp")
    assert t["fp32_epoch_s"] == 2.0 and t["q4_epoch_s"] == 3.0 and t["ratio"] == 1.5
    assert t["fp32_epoch_median_s"] == 1.0 and t["ratio_median"] == 3.0
