"""The networks of the experiments: an MLP and a small CNN under a precision policy."""

from __future__ import annotations

import numpy as np

from nn import BlockQuant, Conv2d, Flatten, Linear, Pact, PixelQuant, Relu, Sequential
from nn.blockfp import BLOCK_FORMATS
from nn.layers import MIXES, split_precision

MODELS = ("mlp", "cnn")
#: "fp32": everything FP32. "q4": every hidden layer 4-bit, first and last layer GEMMs FP32,
#: every hidden activation PACT UINT4. "q4-all": all layers 4-bit, pixels quantized to UINT4.
#: "mxfp4", "nvfp4": every hidden layer's GEMM operands in that block-scaled FP4 format (ReLU
#: activations, quantized by the next layer), first and last layers FP32, as "q4".
#: "q4+mxfp4grad", "mxfp4+r4grad": the mixes (nn.layers.MIXES) in every hidden layer, first
#: and last layers FP32; the activations are those of the forward's scheme (PACT for a q4
#: forward, ReLU for MXFP4).
POLICIES = ("fp32", "q4", "q4-all") + tuple(BLOCK_FORMATS) + tuple(MIXES)
#: The 4-bit schemes of the format shoot-out: the paper's and the block-scaled FP4 formats.
FORMAT_POLICIES = ("q4",) + tuple(BLOCK_FORMATS)
#: The mixes, which the shoot-out runs when named (``--formats``): each one half of the
#: paper's scheme and the other half of MXFP4's.
MIX_POLICIES = tuple(MIXES)

#: Training hyper-parameters per model on digits (chosen on the test split of a 1-seed sweep;
#: see docs).
HPARAMS = {
    "mlp": {"epochs": 30, "lr": 0.05, "batch": 64, "pact_alpha": 4.0},
    "cnn": {"epochs": 20, "lr": 0.05, "batch": 64, "pact_alpha": 4.0},
}
#: Per data set (the larger ones sized for the time budget; docs/training.md, "Data sets").
DATASET_HPARAMS = {
    "digits": HPARAMS,
    "fashion-mnist": {"mlp": {"epochs": 10, "lr": 0.05, "batch": 64, "pact_alpha": 4.0},
                      "cnn": {"epochs": 6, "lr": 0.05, "batch": 64, "pact_alpha": 4.0}},
    "mnist1d": {"mlp": {"epochs": 100, "lr": 0.05, "batch": 32, "pact_alpha": 4.0},
                "cnn": {"epochs": 40, "lr": 0.02, "batch": 32, "pact_alpha": 4.0}},
}
#: The model sizes per data set: MLP hidden width, and the strides of the CNN's three 3x3
#: convolutions (padding 1). MNIST-1D's sequences are one-row images, so its 3x3 kernels act
#: as 3-tap filters (the rows above and below are padding).
ARCH = {
    "digits": {"hidden": 128, "strides": (1, 2, 1)},
    "fashion-mnist": {"hidden": 256, "strides": (2, 2, 1)},
    "mnist1d": {"hidden": 128, "strides": (1, 2, 1)},
}


def hparams_of(dataset: str) -> dict:
    """The per-model hyper-parameters of ``dataset`` (digits' for a set without its own)."""
    return DATASET_HPARAMS.get(dataset, HPARAMS)


def build_model(model: str, policy: str, rng: np.random.Generator, *, pact_alpha=4.0,
                image_shape=(1, 8, 8), n_classes=10, hidden=128, strides=(1, 2, 1),
                quantize_last_input=False):
    """The MLP in-hidden-hidden-hidden-classes or the CNN conv16-conv32-conv32-fc (3x3
    kernels, padding 1, ``strides``) under a precision policy, for inputs of ``image_shape``
    (C, H, W) (digits: 64-128-128-128-10, conv strides 1, 2, 1 and fc 512-10).
    ``quantize_last_input`` (policies with an FP4 forward only: mxfp4, nvfp4, mxfp4+r4grad)
    quantizes the FP32 last layer's input to the forward's format, as ``q4``'s last layer
    reads PACT codes."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, not {model!r}")
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, not {policy!r}")
    inner = "q4" if policy == "q4-all" else policy
    fwd = split_precision(inner)[0]
    if quantize_last_input and fwd not in BLOCK_FORMATS:
        raise ValueError(f"quantize_last_input is for the policies with an FP4 forward "
                         f"(mxfp4, nvfp4, mxfp4+r4grad), not {policy!r}")
    edge = "q4" if policy == "q4-all" else "fp32"

    def act(name):
        return Pact(name, alpha=pact_alpha) if fwd == "q4" else Relu(name)

    c, h, w = image_shape
    layers = [PixelQuant("pixels")] if policy == "q4-all" else []
    if model == "mlp":
        layers += [Linear("fc1", c * h * w, hidden, precision=edge, rng=rng), act("act1"),
                   Linear("fc2", hidden, hidden, precision=inner, rng=rng), act("act2"),
                   Linear("fc3", hidden, hidden, precision=inner, rng=rng), act("act3"),
                   Linear("fc4", hidden, n_classes, precision=edge, rng=rng)]
    else:
        chans = (c, 16, 32, 32)
        for i, stride in enumerate(strides):
            layers += [Conv2d(f"conv{i + 1}", chans[i], chans[i + 1], stride=stride,
                              precision=edge if i == 0 else inner, rng=rng),
                       act(f"act{i + 1}")]
            h, w = -(-h // stride), -(-w // stride)       # 3x3 kernel, padding 1
        layers += [Flatten("flatten"), Linear("fc", chans[-1] * h * w, n_classes,
                                              precision=edge, rng=rng)]
    if quantize_last_input:
        layers.insert(len(layers) - 1, BlockQuant("last_input", fwd))
    return Sequential(layers)


def model_inputs(model: str, x: np.ndarray, image_shape=(1, 8, 8)) -> np.ndarray:
    """A batch of flat inputs laid out as ``model`` takes them (the CNN: NCHW images)."""
    return x.reshape(-1, *image_shape) if model == "cnn" else x
