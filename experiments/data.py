"""The data sets of the experiments, behind one interface: ``load(name) -> Dataset``.

To add a data set, write a function that returns a :class:`Dataset` (float32 inputs, int64
class labels, a fixed train/test split that no seed changes) and register it in
:data:`LOADERS`; ``experiments.models`` builds its networks for the ``image_shape`` it states.

- ``digits``: scikit-learn's digits (1797 8x8 images, shipped with the package). Pixels 0..16
  are divided by 16 into [0, 1]. The split is ``train_test_split(test_size=0.25,
  stratify=labels, random_state=0)``: 1347 training and 450 test images, the same for every
  run and seed (seeds change initialisation, shuffling and stochastic rounding, never the
  split).
- ``fashion-mnist``: Zalando's Fashion-MNIST (60,000 + 10,000 images of 28x28, 10 classes),
  read from the IDX files of the Debian package ``dataset-fashion-mnist``
  (``/usr/share/datasets/fashion-mnist``) or from a directory given by the user. The SHA-256
  and size of every decompressed file are checked, so a truncated or corrupt file is an
  error, never a partial data set; a missing file is an error that says how to get it.
- ``mnist1d``: MNIST-1D (4,000 + 1,000 sequences of 40 samples, 10 classes), generated offline
  by the PyPI package ``mnist1d`` with its default arguments (never its download path), mapped
  to [0, 1] by the affine map that takes its training set's minimum and maximum to 0 and 1
  (test values outside are clipped).

See docs/training.md, "Data sets".
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

SPLIT_RANDOM_STATE = 0
TEST_FRACTION = 0.25

#: Where the Debian package puts the files; ``FOURBIT_FASHION_MNIST`` overrides it.
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_ENV = "FOURBIT_FASHION_MNIST"
#: SHA-256 and size of each file's *decompressed* IDX content (independent of how the gzip
#: was compressed, so the upstream release's files check as well as Debian's).
FASHION_FILES = {
    "train-images-idx3-ubyte.gz":
        ("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", 47040016),
    "train-labels-idx1-ubyte.gz":
        ("bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", 60008),
    "t10k-images-idx3-ubyte.gz":
        ("5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", 7840016),
    "t10k-labels-idx1-ubyte.gz":
        ("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", 10008),
}
FASHION_HOWTO = ("install the Debian package with `make fashion-mnist` (as root: apt-get "
                 "install dataset-fashion-mnist), or put the four IDX .gz files of "
                 "https://github.com/zalandoresearch/fashion-mnist in a directory and name it "
                 f"with --data-dir or the environment variable {FASHION_ENV}")


class DatasetError(RuntimeError):
    """A data set that cannot be had, or whose files are damaged."""


class Dataset(NamedTuple):
    """A fixed train/test split: inputs float32 (N, features) in [0, 1], labels int64 (N,)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str = "digits"
    #: (channels, height, width) of one input, for the convolutional models.
    image_shape: tuple[int, int, int] = (1, 8, 8)
    n_classes: int = 10


def load_digits_split(root=None) -> Dataset:
    """The fixed train/test split of sklearn digits."""
    if root is not None:
        raise ValueError("digits ships with scikit-learn: it takes no data directory")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=TEST_FRACTION, stratify=y,
                                          random_state=SPLIT_RANDOM_STATE)
    return Dataset(xtr, ytr, xte, yte, name="digits", image_shape=(1, 8, 8), n_classes=10)


def read_idx(path: Path, *, sha256: str | None = None, size: int | None = None) -> np.ndarray:
    """One gzipped IDX file (unsigned bytes, 1 or 3 dimensions) as a uint8 array.

    ``sha256``/``size`` (of the decompressed content) are checked when given. Any damage (a
    truncated or corrupt gzip stream, a wrong header, a length that does not match the header,
    a checksum mismatch) raises ``DatasetError`` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path} is missing: {FASHION_HOWTO}")
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetError(f"{path} is not a readable gzip file ({e}): it is truncated or "
                           f"corrupt; reinstall it ({FASHION_HOWTO})") from None
    if size is not None and len(raw) != size:
        raise DatasetError(f"{path}: {len(raw)} bytes decompressed, expected {size}: the file "
                           f"is truncated or not the Fashion-MNIST release")
    if sha256 is not None and hashlib.sha256(raw).hexdigest() != sha256:
        raise DatasetError(f"{path}: SHA-256 of the content does not match the Fashion-MNIST "
                           f"release: the file is corrupt or a different data set")
    if len(raw) < 8 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or raw[3] not in (1, 3):
        raise DatasetError(f"{path}: not an IDX file of unsigned bytes with 1 or 3 dimensions")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise DatasetError(f"{path}: IDX header truncated")
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    body = raw[4 + 4 * ndim:]
    if len(body) != int(np.prod(dims)):
        raise DatasetError(f"{path}: {len(body)} data bytes for dimensions {dims}: truncated "
                           f"or padded")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def load_fashion_mnist(root=None, *, verify=True) -> "Dataset":
    """Fashion-MNIST from ``root`` (see ``load``); ``verify=False`` skips the checksums and
    sizes of the release (for small test files in the same format), never the format checks."""
    root = Path(root if root is not None else os.environ.get(FASHION_ENV) or FASHION_DIR)
    if not root.is_dir():
        raise DatasetError(f"Fashion-MNIST not found: {root} is not a directory; "
                           f"{FASHION_HOWTO}")
    arrays = {}
    for name, (digest, size) in FASHION_FILES.items():
        arrays[name] = read_idx(root / name, sha256=digest if verify else None,
                                size=size if verify else None)
    parts = []
    for split in ("train", "t10k"):
        images, labels = arrays[f"{split}-images-idx3-ubyte.gz"], \
            arrays[f"{split}-labels-idx1-ubyte.gz"]
        if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.ndim != 1 \
                or len(images) != len(labels) or labels.max(initial=0) > 9:
            raise DatasetError(f"{root}: {split} images {images.shape} and labels "
                               f"{labels.shape} are not a 28x28, 10-class set of one length")
        parts += [(images.reshape(len(images), -1) / np.float32(255)).astype(np.float32),
                  labels.astype(np.int64)]
    return Dataset(*parts, name="fashion-mnist", image_shape=(1, 28, 28), n_classes=10)


def load_mnist1d(root=None) -> Dataset:
    """MNIST-1D, generated (see the module docstring)."""
    if root is not None:
        raise ValueError("mnist1d is generated by the mnist1d package: it takes no data "
                         "directory")
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as e:
        raise DatasetError(f"mnist1d needs the PyPI package mnist1d ({e}); `make setup` "
                           f"installs it into .venv") from None
    # make_dataset seeds NumPy's and Python's global generators: keep the caller's.
    import random
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        d = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    lo, hi = float(d["x"].min()), float(d["x"].max())

    def unit(x):
        return np.clip((x - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)
    return Dataset(unit(d["x"]), d["y"].astype(np.int64), unit(d["x_test"]),
                   d["y_test"].astype(np.int64), name="mnist1d", image_shape=(1, 1, 40),
                   n_classes=10)


#: Every data set by name: a function of the data directory (None: its default).
LOADERS: dict[str, Callable[..., Dataset]] = {
    "digits": load_digits_split,
    "fashion-mnist": load_fashion_mnist,
    "mnist1d": load_mnist1d,
}
DATASETS = tuple(LOADERS)


def load(name: str, root: str | Path | None = None) -> Dataset:
    """The data set called ``name`` (one of :data:`LOADERS`); ``root`` is a directory holding
    Fashion-MNIST's files (default: the Debian package's, or ``$FOURBIT_FASHION_MNIST``)."""
    if name not in LOADERS:
        raise ValueError(f"data set must be one of {tuple(LOADERS)}, not {name!r}")
    return LOADERS[name](root)


def fingerprint(data: Dataset) -> str:
    """SHA-256 (first 16 hex digits) of the arrays: recorded in reports, so that a changed
    generator or file shows up as a changed fingerprint."""
    h = hashlib.sha256()
    for a in data[:4]:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]
