"""A chain of layers with a softmax cross-entropy head."""

from __future__ import annotations

import numpy as np

from golden.checks import check_finite
from nn.layers import Layer


class Sequential:
    """A chain of layers with a softmax cross-entropy head (summed over the batch)."""

    def __init__(self, layers: list[Layer]):
        layers = list(layers)
        for layer in layers:
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential takes Layer objects, not {layer!r}")
        if not any(layer.params for layer in layers):
            raise ValueError("Sequential needs at least one layer with parameters to train")
        self.layers = layers
        for i, layer in enumerate(layers):
            layer.layer_id = i

    def forward(self, x, ctx):
        for layer in self.layers:
            x = layer.forward(x, ctx)
        return x

    def backward(self, dlogits, ctx):
        first = next(i for i, layer in enumerate(self.layers) if layer.params)
        d = dlogits
        for i in range(len(self.layers) - 1, first - 1, -1):
            d = self.layers[i].backward(d, ctx, need_dx=i > first)
        return d


def softmax_xent(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Summed softmax cross-entropy and its gradient p - onehot with respect to the logits.

    ``labels`` are integer class indices 0..C-1, one per row of the (N, C) ``logits``; anything
    else is an error (a label -1 would otherwise index the last class).
    """
    logits, labels = np.asarray(logits), np.asarray(labels)
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(f"logits {logits.shape} and labels {labels.shape} do not match")
    if logits.dtype.kind != "f":
        raise TypeError(f"logits must be floating point, not {logits.dtype}")
    if labels.dtype.kind not in "iu":
        raise TypeError(f"labels must be integer class indices, not {labels.dtype}")
    n_classes = logits.shape[1]
    if n_classes == 0:
        raise ValueError("logits have no classes")
    # One pass: viewed as unsigned, a negative label is larger than any class index.
    unsigned = labels.view(labels.dtype.str.replace("i", "u"))     # same size and byte order
    if labels.size and unsigned.max() >= n_classes:
        bad = labels[(labels < 0) | (labels >= n_classes)]
        raise ValueError(f"labels must be class indices in 0..{n_classes - 1}, not "
                         f"{bad[:5].tolist()}")
    check_finite(logits, "logits")
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    idx = np.arange(len(labels))
    loss = -float(logp[idx, labels].sum())
    d = np.exp(logp)
    d[idx, labels] -= 1
    return loss, d.astype(logits.dtype)
