"""scikit-learn's digits (1797 8x8 images, shipped with the package) and the one fixed split.

Pixels 0..16 are divided by 16 into [0, 1]. The split is ``train_test_split(test_size=0.25,
stratify=labels, random_state=0)``: 1347 training and 450 test images, the same for every run
and seed (seeds change initialisation, shuffling and stochastic rounding, never the split).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

SPLIT_RANDOM_STATE = 0
TEST_FRACTION = 0.25


class Digits(NamedTuple):
    x_train: np.ndarray   # float32 (N, 64) in [0, 1]
    y_train: np.ndarray   # int64 (N,)
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits_split() -> Digits:
    """The fixed train/test split of sklearn digits."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=TEST_FRACTION, stratify=y,
                                          random_state=SPLIT_RANDOM_STATE)
    return Digits(xtr, ytr, xte, yte)
