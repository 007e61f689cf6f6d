"""nn: the training library on the golden model -- 4-bit and FP32 layers, the model, SGD.

:mod:`nn.context` (the 4-bit configuration and what a step shares), :mod:`nn.layers`,
:mod:`nn.model` (Sequential and the loss), :mod:`nn.optim` (SGD and per-parameter options).
"""

from nn.context import QuantConfig, StepContext, grad_seed
from nn.layers import (BlockQuant, Conv2d, Flatten, Layer, Linear, Pact, PixelQuant, QAct,
                       Relu)
from nn.model import Sequential, softmax_xent
from nn.optim import ParamOptions, Sgd

__all__ = ["BlockQuant", "Conv2d", "Flatten", "Layer", "Linear", "Pact", "ParamOptions",
           "PixelQuant", "QAct", "QuantConfig", "Relu", "Sequential", "Sgd", "StepContext", "grad_seed",
           "softmax_xent"]
