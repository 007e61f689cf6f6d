"""The data layer (experiments/data.py): IDX files good and damaged, the real Fashion-MNIST when
installed, MNIST-1D, and a smoke training run on every data set's path."""

import functools
import gzip
import hashlib
import random

import numpy as np
import pytest

from experiments import data as datasets
from experiments.data import DATASETS, DatasetError, load, load_fashion_mnist, read_idx
from experiments.models import ARCH, build_model
from experiments.train import main, train_run
from nn import QuantConfig


@functools.cache
def _mnist1d():
    """MNIST-1D once per test process (generating it takes about two seconds)."""
    return load("mnist1d")


def _idx_bytes(array: np.ndarray) -> bytes:
    head = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    return head + array.astype(np.uint8).tobytes()


def _write_fashion(root, n_train=48, n_test=16, seed=0):
    """A small set in Fashion-MNIST's file format (28x28 images, labels 0..9)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28))
        labels = rng.integers(0, 10, n)
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            (root / f"{split}-{kind}-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(arr)))
    return root


def test_read_idx_round_trip(tmp_path):
    a = np.random.default_rng(1).integers(0, 256, (3, 4, 5))
    raw = _idx_bytes(a)
    p = tmp_path / "x.gz"
    p.write_bytes(gzip.compress(raw))
    got = read_idx(p, sha256=hashlib.sha256(raw).hexdigest(), size=len(raw))
    assert got.dtype == np.uint8 and np.array_equal(got, a)


@pytest.mark.parametrize("damage,match", [
    (lambda z, raw: z[:len(z) // 2], "not a readable gzip file"),
    (lambda z, raw: z[:10] + bytes(b ^ 0x5A for b in z[10:20]) + z[20:], "gzip"),
    (lambda z, raw: b"not gzip at all", "not a readable gzip file"),
    (lambda z, raw: gzip.compress(raw[:-7]), "truncated or padded"),
    (lambda z, raw: gzip.compress(raw + b"\0"), "truncated or padded"),
    (lambda z, raw: gzip.compress(b"\0\0\x0d\x03" + raw[4:]), "not an IDX file"),
    (lambda z, raw: gzip.compress(raw[:10]), "header truncated"),
])
def test_read_idx_damaged_file_is_a_clear_error(tmp_path, damage, match):
    raw = _idx_bytes(np.arange(60).reshape(3, 4, 5))
    p = tmp_path / "x.gz"
    p.write_bytes(damage(gzip.compress(raw), raw))
    with pytest.raises(DatasetError, match=match):
        read_idx(p)


def test_read_idx_checks_size_and_checksum(tmp_path):
    raw = _idx_bytes(np.arange(60).reshape(3, 4, 5))
    p = tmp_path / "x.gz"
    p.write_bytes(gzip.compress(raw))
    with pytest.raises(DatasetError, match="bytes decompressed, expected 99"):
        read_idx(p, size=99)
    with pytest.raises(DatasetError, match="SHA-256"):
        read_idx(p, sha256="0" * 64, size=len(raw))


def test_fashion_small_files_load_and_fail_the_release_check(tmp_path):
    root = _write_fashion(tmp_path / "fm")
    d = load_fashion_mnist(root, verify=False)
    assert (d.x_train.shape, d.x_test.shape) == ((48, 784), (16, 784))
    assert d.x_train.dtype == np.float32 and 0 <= d.x_train.min() and d.x_train.max() <= 1
    assert d.name == "fashion-mnist" and d.image_shape == (1, 28, 28)
    with pytest.raises(DatasetError, match="expected 47040016"):
        load("fashion-mnist", root)


def test_fashion_missing_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.delenv(datasets.FASHION_ENV, raising=False)
    with pytest.raises(DatasetError, match="make fashion-mnist"):
        load("fashion-mnist", tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="is missing: install the Debian package"):
        load("fashion-mnist", tmp_path / "empty")


def test_fashion_labels_out_of_range_are_refused(tmp_path):
    root = _write_fashion(tmp_path / "fm")
    (root / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(_idx_bytes(np.full(16, 10))))
    with pytest.raises(DatasetError, match="10-class"):
        load_fashion_mnist(root, verify=False)


@pytest.mark.skipif(not (datasets.FASHION_DIR / "train-images-idx3-ubyte.gz").is_file(),
                    reason="Fashion-MNIST not installed (make fashion-mnist)")
def test_real_fashion_mnist_checks_and_shapes():
    d = load("fashion-mnist")
    assert (d.x_train.shape, d.x_test.shape) == ((60000, 784), (10000, 784))
    assert np.array_equal(np.bincount(d.y_train), np.full(10, 6000))
    assert np.array_equal(np.bincount(d.y_test), np.full(10, 1000))


def test_mnist1d_is_generated_offline_and_leaves_the_global_rngs_alone():
    np.random.seed(123)
    random.seed(7)
    before = (np.random.get_state()[1].copy(), random.getstate())
    d = load("mnist1d")
    assert np.array_equal(np.random.get_state()[1], before[0])
    assert random.getstate() == before[1]
    assert (d.x_train.shape, d.x_test.shape) == ((4000, 40), (1000, 40))
    assert d.x_train.min() == 0 and d.x_train.max() == 1 and d.x_test.min() >= 0
    assert d.x_test.max() <= 1 and set(np.unique(d.y_train)) == set(range(10))
    assert d.image_shape == (1, 1, 40)
    assert datasets.fingerprint(d) == datasets.fingerprint(_mnist1d())


@pytest.mark.parametrize("name,root,error,match", [
    ("mnist", None, ValueError, "data set must be one of"),
    ("digits", "/tmp", ValueError, "takes no data directory"),
    ("mnist1d", "/tmp", ValueError, "takes no data directory"),
])
def test_load_refuses_bad_arguments(name, root, error, match):
    with pytest.raises(error, match=match):
        load(name, root)


def _slice(d, n_train=32, n_test=16):
    return d._replace(x_train=d.x_train[:n_train], y_train=d.y_train[:n_train],
                      x_test=d.x_test[:n_test], y_test=d.y_test[:n_test])


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_smoke_run_of_every_dataset_path(dataset, model, tmp_path):
    """One epoch on a slice of each data set, 4-bit with all layers (the longest path), and
    the model's input width and image shape follow the data set."""
    d = (load_fashion_mnist(_write_fashion(tmp_path / "fm"), verify=False)
         if dataset == "fashion-mnist" else _mnist1d() if dataset == "mnist1d"
         else load(dataset))
    row = train_run(model, "q4-all", 1, data=_slice(d), epochs=1, batch=16)
    assert row["dataset"] == dataset and len(row["test_acc"]) == 1
    assert row["stats"]["grad_saturated_phase1"] > 0
    net = build_model(model, "fp32", np.random.default_rng(0), image_shape=d.image_shape,
                      **ARCH[dataset])
    first = net.layers[0]
    assert first.n_in == (d.x_train.shape[1] if model == "mlp" else 9)


def test_cli_fashion_missing_is_a_clear_exit(tmp_path):
    with pytest.raises(SystemExit, match="make fashion-mnist"):
        main(["--dataset", "fashion-mnist", "--data-dir", str(tmp_path / "no"),
              "--out", str(tmp_path / "out")])


def test_cli_data_dir_needs_fashion(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--dataset", "mnist1d", "--data-dir", str(tmp_path), "--out", str(tmp_path)])
    assert "--data-dir is only used with --dataset fashion-mnist" in capsys.readouterr().err


def test_shift_up_phase1_never_saturates_and_shared_does(seed):
    """The phase-1 policy: with a shared g the top octave saturates in phase 1; with g - 2
    nothing finite does (the grid tops out at 128 * 2^-g > amax)."""
    d = _slice(_mnist1d(), 64, 16)
    counts = {}
    for policy in ("shared", "shift-up"):
        row = train_run("mlp", "q4", seed, data=d, epochs=1, batch=16,
                        config=QuantConfig(phase1_scale=policy))
        counts[policy] = row["stats"]["grad_saturated_phase1"]
        assert row["stats"]["grad_saturated"] == counts[policy]   # phase 0 never saturates
    assert counts["shared"] > 0 and counts["shift-up"] == 0
