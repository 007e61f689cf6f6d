"""The data sets of the experiments, behind one interface: ``load(name) -> Dataset``.

To add a data set, write a function that returns a :class:`Dataset` (float32 inputs, int64
class labels, a fixed train/test split that no seed changes) and register it in
:data:`LOADERS`; ``experiments.models`` builds its networks for the ``image_shape`` it states.

``digits``: scikit-learn's digits (1797 8x8 images, shipped with the package). Pixels 0..16
are divided by 16 into [0, 1]. The split is ``train_test_split(test_size=0.25,
stratify=labels, random_state=0)``: 1347 training and 450 test images, the same for every run
and seed (seeds change initialisation, shuffling and stochastic rounding, never the split).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

SPLIT_RANDOM_STATE = 0
TEST_FRACTION = 0.25


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


def load_digits_split() -> Dataset:
    """The fixed train/test split of sklearn digits."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=TEST_FRACTION, stratify=y,
                                          random_state=SPLIT_RANDOM_STATE)
    return Dataset(xtr, ytr, xte, yte, name="digits", image_shape=(1, 8, 8), n_classes=10)


#: Every data set by name.
LOADERS: dict[str, Callable[[], Dataset]] = {
    "digits": load_digits_split,
}


def load(name: str) -> Dataset:
    """The data set called ``name`` (one of :data:`LOADERS`)."""
    if name not in LOADERS:
        raise ValueError(f"data set must be one of {tuple(LOADERS)}, not {name!r}")
    return LOADERS[name]()
