"""golden.train: a seconds-long smoke run of the ``make train`` entry point."""

from __future__ import annotations

import json

from golden.train import main


def test_train_smoke(tmp_path):
    main(["--out", str(tmp_path), "--models", "mlp", "--seeds", "1", "--epochs", "1"])
    report = json.loads((tmp_path / "train.json").read_text())
    s = report["summary"]["mlp"]
    assert set(s) >= {"fp32_mean", "q4_mean", "gap_pt", "seeds"} and s["seeds"] == 1
    assert abs(s["gap_pt"] - (s["fp32_mean"] - s["q4_mean"])) < 1e-6
    assert {r["policy"] for r in report["runs"]} == {"fp32", "q4"}
    assert report["epoch_time"]["mlp"]["ratio"] > 0
    assert (tmp_path / "train.png").stat().st_size > 0
