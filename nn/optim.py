"""The optimizer and the per-parameter options it reads from each layer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from golden.checks import check_int, check_real

#: ``ParamOptions.weight_decay`` of a parameter that takes the optimizer's weight decay.
DECAYED = "optimizer"


@dataclass(frozen=True)
class ParamOptions:
    """How the optimizer updates one parameter.

    weight_decay : None (no L2 term), :data:`DECAYED` (the optimizer's ``weight_decay``) or
        the parameter's own L2 coefficient (a non-negative real number).
    floor : None, or the least value the parameter keeps after every update.
    """

    weight_decay: float | str | None = None
    floor: float | None = None


def options(layer, name: str) -> ParamOptions:
    """The options of parameter ``name`` of ``layer`` (the default: plain SGD)."""
    return layer.param_options.get(name, ParamOptions())


class Sgd:
    """SGD with momentum on FP32 master parameters; gradients are of the summed batch loss.

    Each parameter is updated by its layer's :class:`ParamOptions` (``layer.param_options``):
    GEMM weights take the optimizer's ``weight_decay``, PACT alphas their own L2 term and a
    floor, biases neither.
    """

    def __init__(self, layers, *, lr, momentum=0.9, weight_decay=5e-4):
        check_real(lr, "lr", positive=True)
        if not 0 <= check_real(momentum, "momentum", positive=False) < 1:
            raise ValueError(f"momentum must be in [0, 1), not {momentum!r}")
        check_real(weight_decay, "weight_decay", positive=False)
        self.layers, self.lr, self.momentum, self.wd = layers, lr, momentum, weight_decay
        self.vel = {(id(l), k): np.zeros_like(p) for l in layers for k, p in l.params.items()}

    def step(self, batch_size: int, lr: float | None = None):
        """Apply the gradients of one batch of ``batch_size`` examples (a positive integer)
        with learning rate ``lr`` (a non-negative finite number; default the constructor's).

        Every parameter must have a gradient from a backward pass: a step before any backward
        is an error, never an update with a missing or stale gradient. The gradients are
        consumed (cleared), so two steps need two backward passes.
        """
        # Checked but passed on as given: a NumPy scalar and a Python number round differently
        # in the float32 update (NumPy's promotion rules), and runs must stay reproducible.
        check_int(batch_size, "batch_size")
        if lr is None:
            lr = self.lr
        else:
            check_real(lr, "lr", positive=False)
        for layer in self.layers:
            missing = sorted(set(layer.params) - set(layer.grads))
            if missing:
                raise RuntimeError(f"Sgd.step: {layer.name} has no gradient for "
                                   f"{', '.join(missing)}: call backward before every step")
        for layer in self.layers:
            for k, p in layer.params.items():
                v = self.vel[(id(layer), k)]
                if p.ndim == 0:
                    # The same float32 operations on NumPy scalars: a 0-d array ufunc costs
                    # about a microsecond, and the PACT alphas would pay it eight times.
                    p[()], v[()] = self._update(options(layer, k), p[()], layer.grads[k][()],
                                                v[()], batch_size, lr)
                else:
                    self._update(options(layer, k), p, layer.grads[k], v, batch_size, lr)
            layer.grads.clear()

    def _update(self, opts, p, grad, v, batch_size, lr):
        """One momentum-SGD update; in place for arrays, returned (p, v) for scalars."""
        g = grad / batch_size
        decay = self.wd if opts.weight_decay is DECAYED else opts.weight_decay
        if decay is not None:
            g = g + decay * p
        v *= self.momentum
        v += g
        p -= (lr * v).astype(p.dtype)
        if opts.floor is not None:
            if isinstance(p, np.ndarray):
                np.maximum(p, np.float32(opts.floor), out=p)
            else:
                p = np.maximum(p, np.float32(opts.floor))
        return p, v
