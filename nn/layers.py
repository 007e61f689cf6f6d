"""Quantized layers: Linear and Conv2d on the bit-exact 4-bit GEMM, plus PACT and the FP32 path.

A layer with ``precision="q4"`` runs the paper's 4-bit training step (docs/numerics.md):

- forward: SAWB INT4 weights x UINT4 activation codes (PACT or the pixel quantizer), exact
  integer GEMM, FP16 read-out, times the two FP32 scales, plus an FP32 bias;
- backward: the incoming gradient dY (FP32) is cast to FP16 (RNE), quantized to R4 with the
  layer's GradScale exponent g -- phase 0 for dW = X^T dY, phase 1 for dX = dY W (Two-Phase
  Rounding) -- and both GEMMs run on the backend with INT operand A and R4 operand B:
  ``dW^T = X^T @ dY`` and ``dX^T = W^T @ dY^T``, read out with exponent offset -7 - g.

``precision="fp32"`` is the same layer in plain FP32 (the paper keeps sensitive layers in
higher precision); it accepts FP32 tensors or dequantizes 4-bit activations it is given.
``precision="mxfp4"`` / ``"nvfp4"`` quantizes every GEMM operand to that block-scaled FP4
format along the GEMM's reduction axis (nn.blockfp): forward operands round to nearest,
gradients by ``QuantConfig.rounding``; the GEMMs multiply the dequantized values in FP32.
A *mix* (:data:`MIXES`) takes its forward from one scheme and its gradients from another, to
tell which half of a scheme costs accuracy: ``"q4+mxfp4grad"`` runs q4's forward (same codes,
same backend GEMM) and quantizes dY to MXFP4 as the ``mxfp4`` precision does, multiplied in
FP32 with the dequantized SAWB weights and PACT activations; ``"mxfp4+r4grad"`` runs
``mxfp4``'s forward and q4's R4 gradient codes (GradScale, TPR phases, the backend's
quantizer), decoded and multiplied in FP32 with the MXFP4-quantized operands.
Conv2d is im2col onto the same GEMM. All 4-bit arithmetic goes through a
:class:`golden.backend.Backend`; bias, scales, PACT and SGD stay on the host. Each layer
says how the optimizer treats its parameters (:attr:`Layer.param_options`).

Gradients are those of the *summed* batch loss (the optimizer divides by the batch size): a
loss scale of the batch size, which keeps per-example gradients out of FP16's subnormal range.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from golden.checks import check_codes, check_crossing, check_finite, check_int, check_real
from golden.fp16 import fp16_from_f32
from golden.formats import int4_decode, r4_decode, scale_exp_of_amax
from golden.gemm import AccumulatorBoundError, check_k_bound
from golden.quant import pact_backward, pact_quantize, pixel_quantize, sawb_quantize
from nn.blockfp import BLOCK_FORMATS, block_quantize
from nn.context import StepContext, grad_seed
from nn.optim import DECAYED, ParamOptions

#: Mixed precisions: name -> (forward scheme, gradient format). Each takes one half of the
#: paper's scheme and the other half of MXFP4's; the name reads "<forward>+<gradient>grad".
MIXES = {"q4+mxfp4grad": ("q4", "mxfp4"), "mxfp4+r4grad": ("mxfp4", "r4")}
PRECISIONS = ("q4", "fp32") + tuple(BLOCK_FORMATS) + tuple(MIXES)
#: The gradient format of each plain precision ("r4": the paper's R4 with GradScale and TPR).
_GRAD_OF = {"q4": "r4", "fp32": "fp32", **{f: f for f in BLOCK_FORMATS}}
#: The least value a PACT clip alpha keeps after an optimizer step.
PACT_ALPHA_FLOOR = 1e-3
#: R4 products are in units of 2^-7 at scale exponent 0 (docs/numerics.md section 6).
R4_PRODUCT_EXP = -7
#: The smallest magnitude that FP16 round-to-nearest-even turns into Inf.
FP16_INF_FROM = 65520.0


def split_precision(precision) -> tuple[str, str]:
    """(forward scheme, gradient format) of a layer precision: ``"q4"`` -> ("q4", "r4"),
    ``"fp32"`` -> ("fp32", "fp32"), ``"mxfp4"`` -> ("mxfp4", "mxfp4"), a mix -> its pair.

    ValueError for anything else, saying why for a name shaped like a mix: a pair that is a
    plain precision already (``"q4+r4grad"`` is ``"q4"``), or one that is not built.
    """
    if not isinstance(precision, str):
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    if precision in MIXES:
        return MIXES[precision]
    if precision in _GRAD_OF:
        return precision, _GRAD_OF[precision]
    fwd, plus, grad = precision.partition("+")
    if plus and grad.endswith("grad"):
        same = [p for p, gf in _GRAD_OF.items() if (p, gf) == (fwd, grad[:-4])]
        why = (f"that is precision {same[0]!r} itself" if same else
               "not a mix the layers build (one half of the paper's INT4/R4 scheme with the "
               "other half of MXFP4's)")
        raise ValueError(f"precision {precision!r}: {why}; the mixes are {tuple(MIXES)}")
    raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")


class _QActFields(NamedTuple):
    codes: np.ndarray
    scale: float


class QAct(_QActFields):
    """A 4-bit activation tensor: UINT4 codes and the FP32 scale (value = codes * scale).

    ``codes`` must be integer codes 0..15 (kept as uint8), ``scale`` a positive finite real;
    anything else is an error naming the field. Layers pass on tensors made from checked
    codes through :meth:`trusted`, without a second pass over them.
    """

    __slots__ = ()

    def __new__(cls, codes, scale):
        codes = check_codes(codes, "QAct codes")
        return super().__new__(cls, codes, check_real(scale, "QAct scale", positive=True))

    @classmethod
    def trusted(cls, codes: np.ndarray, scale: float) -> "QAct":
        """A QAct of codes and a scale that a quantizer or a layer produced (not re-checked)."""
        return tuple.__new__(cls, (codes, scale))

    def dequant(self) -> np.ndarray:
        return self.codes.astype(np.float32) * np.float32(self.scale)


class Layer:
    """Base: parameters and their gradients by name; subclasses define forward/backward.

    Every forward records the shape of its output in ``_out_shape``; every backward first
    checks the incoming gradient against it (:meth:`_check_grad`), so that a wrong batch size
    or layout is an error naming the layer, never a broadcast or a mismatched GEMM.
    """

    def __init__(self, name: str):
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty string, not {name!r}")
        self.name = name
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self._out_shape: tuple | None = None
        #: How the optimizer treats each parameter (a missing name: plain SGD).
        self.param_options: dict[str, ParamOptions] = {}

    def _check_grad(self, dy, want: tuple | None, what: str = "output") -> None:
        """Raise unless ``dy`` is an array of shape ``want``, the shape a forward produced."""
        if want is None:
            raise RuntimeError(f"{self.name}: backward called before any forward pass")
        if not isinstance(dy, np.ndarray):
            raise TypeError(f"{self.name}: the gradient must be a NumPy array, "
                            f"not {type(dy).__name__}")
        if dy.shape != want:
            raise ValueError(f"{self.name}: gradient shape {dy.shape} does not match the "
                             f"{what} shape {want} of the forward pass")

    def forward(self, x, ctx: StepContext):
        raise NotImplementedError

    def backward(self, dy, ctx: StepContext, need_dx: bool = True):
        raise NotImplementedError


# --------------------------------------------------------------------------- activations


class PixelQuant(Layer):
    """Input pixels in [0, 1] -> UINT4 codes (scale 1/15) for a 4-bit first layer."""

    def forward(self, x, ctx):
        codes = pixel_quantize(x)
        self._out_shape = codes.shape
        return QAct.trusted(codes, 1.0 / 15)

    def backward(self, dy, ctx, need_dx=True):
        self._check_grad(dy, self._out_shape)
        return None


class Pact(Layer):
    """PACT activation with a learnable clip alpha; emits UINT4 codes."""

    def __init__(self, name: str, alpha: float = 4.0, l2: float = 1e-4):
        super().__init__(name)
        check_real(alpha, "PACT alpha", positive=True)
        check_real(l2, "l2", positive=False)
        with np.errstate(over="ignore"):
            self.params["alpha"] = np.array(alpha, dtype=np.float32)
        if not 0 < self.params["alpha"] < np.inf:
            raise ValueError(f"PACT alpha {alpha!r} is not a positive finite FP32 number")
        self.param_options["alpha"] = ParamOptions(weight_decay=l2, floor=PACT_ALPHA_FLOOR)
        self._x = None

    @property
    def l2(self) -> float:
        """The L2 coefficient of alpha."""
        return self.param_options["alpha"].weight_decay

    def forward(self, x, ctx):
        q = pact_quantize(x, self.params["alpha"])
        self._x, self._out_shape = x, q.codes.shape
        return QAct.trusted(q.codes, q.scale)

    def backward(self, dy, ctx, need_dx=True):
        self._check_grad(dy, self._out_shape)
        dx, dalpha = pact_backward(self._x, self.params["alpha"], dy)
        self.grads["alpha"] = np.array(dalpha, dtype=np.float32)
        return dx


class Relu(Layer):
    """ReLU of the FP32 baseline."""

    def forward(self, x, ctx):
        self._mask = x > 0
        self._out_shape = self._mask.shape
        return np.where(self._mask, x, 0).astype(x.dtype)

    def backward(self, dy, ctx, need_dx=True):
        self._check_grad(dy, self._out_shape)
        return np.where(self._mask, dy, 0).astype(dy.dtype)


class BlockQuant(Layer):
    """An activation quantized to a block-scaled FP4 format (``"mxfp4"`` / ``"nvfp4"``) along
    its features, round to nearest, for an FP32 layer that should read it as a 4-bit layer
    would (the format shoot-out's ``--quantize-last-input``); the gradient passes straight
    through. Input (N, features), FP32."""

    def __init__(self, name: str, fmt: str):
        super().__init__(name)
        if fmt not in BLOCK_FORMATS:
            raise ValueError(f"fmt must be one of {tuple(BLOCK_FORMATS)}, not {fmt!r}")
        self.fmt = fmt

    def forward(self, x, ctx):
        x = check_finite(x, f"{self.name} input")
        self._out_shape = x.shape
        return block_quantize(x, self.fmt, 1, stats=ctx.stats)

    def backward(self, dy, ctx, need_dx=True):
        self._check_grad(dy, self._out_shape)
        return dy


class Flatten(Layer):
    """(N, C, H, W) -> (N, C*H*W), for FP32 arrays and 4-bit activations alike."""

    def forward(self, x, ctx):
        arr = x.codes if isinstance(x, QAct) else x
        out = arr.reshape(arr.shape[0], -1)
        self._shape, self._out_shape = arr.shape, out.shape
        return QAct.trusted(out, x.scale) if isinstance(x, QAct) else out

    def backward(self, dy, ctx, need_dx=True):
        self._check_grad(dy, self._out_shape)
        return dy.reshape(self._shape)


# --------------------------------------------------------------------------- GEMM layers


class _GemmLayer(Layer):
    """y = x @ W^T + b on 2-D operands, 4-bit or FP32; Linear and Conv2d wrap it."""

    def __init__(self, name, n_in, n_out, *, precision, rng):
        super().__init__(name)
        n_in, n_out = check_int(n_in, "n_in"), check_int(n_out, "n_out")
        fwd, grad = split_precision(precision)
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, not {rng!r}")
        self.precision = precision
        #: The forward scheme (q4, fp32, mxfp4, nvfp4) and the gradient format (r4 or as
        #: the forward) of the precision.
        self.fwd, self.grad = fwd, grad
        self.n_in, self.n_out = n_in, n_out
        self.params["w"] = (rng.standard_normal((n_out, n_in)) * np.sqrt(2.0 / n_in)).astype(
            np.float32)
        self.param_options["w"] = ParamOptions(weight_decay=DECAYED)
        self.params["b"] = np.zeros(n_out, dtype=np.float32)
        self.layer_id = 0          # set by Sequential: feeds the stochastic-rounding seed
        self._prev_scale_exp = None
        self._mat_shape = None     # (rows, n_out) of the last forward GEMM

    # ---- the 4-bit GEMM through the backend
    def _gemm(self, ctx, a_codes, b_codes, a_format, b_format, phase, exp_offset, scale,
              transpose=False):
        """One backend GEMM plus read-out: the FP32 values of acc * 2^exp_offset times the FP32
        ``scale`` (transposed into a row-major array if asked)."""
        cfg = ctx.config
        if cfg.accumulate == "fp16":
            res = ctx.backend.gemm_fp16(a_codes, b_codes, a_format=a_format, b_format=b_format,
                                        phase=phase, exp_offset=exp_offset)
            check_crossing("gemm_fp16 values", res.values, np.float16)
            ctx.stats["fp16_acc_overflow"] += int(np.count_nonzero(res.overflow))
            return _scaled(res.values, scale, transpose)
        check_k_bound(a_codes.shape[1], a_format, b_format, cfg.acc_width)
        res = ctx.backend.gemm_readout(a_codes, b_codes, a_format=a_format, b_format=b_format,
                                       phase=phase, acc_width=cfg.acc_width,
                                       exp_offset=exp_offset)
        if res.overflow.any():
            raise AccumulatorBoundError(f"{self.name}: accumulator saturated")
        out = res.readout
        check_crossing("readout values", out.values, np.float16)
        ctx.stats["readout_overflow"] += int(np.count_nonzero(out.overflow))
        return _scaled(out.values, scale, transpose)

    def _scale_exp(self, amax, ctx) -> int:
        cfg = ctx.config
        if cfg.grad_scale == "off":
            return cfg.fixed_scale_exp
        current = scale_exp_of_amax(amax)
        if cfg.grad_scale == "current":
            return current
        g = current if self._prev_scale_exp is None else self._prev_scale_exp
        self._prev_scale_exp = current
        return g

    def _grad_seed(self, ctx, phase):
        if ctx.config.rounding == "stochastic":
            return grad_seed(ctx.run_seed, ctx.step, self.layer_id, phase)
        return None

    def _r4_codes(self, ctx, res, phase=0):
        """The codes of one R4 result, after its flags: NaN/Inf is an error, saturation counts
        (in ``grad_saturated``, and for phase 1 also in ``grad_saturated_phase1``), and
        ``grad_quantized`` counts the elements quantized."""
        check_crossing("R4 codes", res.codes, np.uint8)
        if res.invalid.any():
            raise FloatingPointError(f"{self.name}: NaN or Inf reached the gradient quantizer")
        n = int(np.count_nonzero(res.saturated))
        ctx.stats["grad_saturated"] += n
        ctx.stats["grad_quantized"] = ctx.stats.get("grad_quantized", 0) + res.codes.size
        if phase:
            ctx.stats["grad_saturated_phase1"] += n
        return res.codes

    # ---- forward / backward on matrices
    def _forward_mat(self, x, ctx):
        w, b = self.params["w"], self.params["b"]
        if self.fwd != "q4":                         # FP32 values in: FP32 or a block format
            xv = x.dequant() if isinstance(x, QAct) else check_finite(x, f"{self.name} input")
            self._check_in(xv.shape)
            self._x, self._mat_shape = xv, (xv.shape[0], self.n_out)
            if self.fwd == "fp32":
                return xv @ w.T + b
            fmt, stats = self.fwd, ctx.stats
            return (block_quantize(xv, fmt, 1, stats=stats)
                    @ block_quantize(w, fmt, 1, stats=stats).T + b)
        if not isinstance(x, QAct):
            raise TypeError(f"{self.name} is a 4-bit layer: its input must be UINT4 activation "
                            f"codes (PACT or the pixel quantizer), not {type(x).__name__}")
        self._check_in(x.codes.shape)
        q = sawb_quantize(w)
        y = self._gemm(ctx, x.codes, q.codes.T, "uint4", "int4", 0, 0, x.scale * q.scale)
        y += b                                       # a new array: add the bias in place
        self._x, self._w, self._mat_shape = x, q, y.shape
        return y

    def _backward_mat(self, dy, ctx, need_dx):
        self._check_grad(dy, self._mat_shape, "GEMM output")
        self.grads["b"] = dy.sum(axis=0).astype(self.params["b"].dtype)
        if self.grad == "fp32":
            check_finite(dy, f"{self.name} output gradient")
            self.grads["w"] = dy.T @ self._x
            return dy @ self.params["w"] if need_dx else None
        if self.grad in BLOCK_FORMATS:
            return self._backward_block(dy, ctx, need_dx)
        codes0, codes1, g, g1, phase = self._r4_grad(dy, ctx, need_dx)
        if self.fwd != "q4":                         # R4 gradients on block-format operands
            xq, wq = self._grad_operands(ctx, need_dx)
            d0 = r4_decode(codes0, phase=0, scale_exp=g).astype(np.float32)
            self.grads["w"] = d0.T @ xq
            if not need_dx:
                return None
            return r4_decode(codes1, phase=phase, scale_exp=g1).astype(np.float32) @ wq
        x, q = self._x, self._w
        # dW^T, handed on row-major as dW like the FP32 path's (the optimizer runs on it next).
        self.grads["w"] = self._gemm(ctx, x.codes.T, codes0, "uint4", "r4", 0,
                                     R4_PRODUCT_EXP - g, x.scale, transpose=True)
        if not need_dx:
            return None
        return self._gemm(ctx, q.codes.T, codes1.T, "int4", "r4", phase, R4_PRODUCT_EXP - g1,
                          q.scale, transpose=True)

    def _r4_grad(self, dy, ctx, need_dx):
        """dY's R4 codes as the paper's scheme makes them: FP16 (RNE), GradScale exponent g,
        phase 0 for dW and (TPR) phase 1 for dX, through the backend's quantizer. Returns
        (phase-0 codes, the codes for dX or None, g, the dX exponent g1, the dX phase)."""
        hi, lo = dy.max(), dy.min()                  # both propagate NaN
        if not (np.isfinite(hi) and np.isfinite(lo)):
            raise FloatingPointError(f"{self.name} output gradient holds NaN or Inf")
        d32 = np.ascontiguousarray(dy, dtype=np.float32)
        if d32 is not dy:
            hi, lo = d32.max(), d32.min()
        # RNE to FP16 is monotone and odd, so the FP16 amax is max|dy| rounded once, and some
        # element overflows to Inf iff max|dy| >= 65520 (65504 plus half an ULP, tie to even).
        top = max(float(hi), -float(lo))
        if top >= FP16_INF_FROM:
            raise FloatingPointError(f"{self.name}: gradient overflows FP16 (Inf)")
        dy16 = fp16_from_f32(d32)                    # FP32 -> FP16, round to nearest even
        g = self._scale_exp(np.float16(top), ctx)
        cfg = ctx.config
        tpr = cfg.tpr and need_dx
        # Phase 1's exponent: g, or g - 2 to lift its grid above amax (at least -12 for finite
        # FP16, inside the register).
        g1 = g - 2 if tpr and cfg.phase1_scale == "shift-up" else g
        if tpr and g1 == g:
            # Both phases in one backend call (a backend may share work between them).
            seeds = (self._grad_seed(ctx, 0), self._grad_seed(ctx, 1)) \
                if cfg.rounding == "stochastic" else None
            res0, res1 = ctx.backend.quantize_grad_tpr(dy16, scale_exp=g, rounding=cfg.rounding,
                                                       seeds=seeds)
        elif tpr:
            res0, res1 = (ctx.backend.quantize_grad(dy16, phase=p, scale_exp=e,
                                                    rounding=cfg.rounding,
                                                    seed=self._grad_seed(ctx, p))
                          for p, e in ((0, g), (1, g1)))
        else:
            res0 = ctx.backend.quantize_grad(dy16, phase=0, scale_exp=g, rounding=cfg.rounding,
                                             seed=self._grad_seed(ctx, 0))
        codes0 = self._r4_codes(ctx, res0)
        if not need_dx:
            return codes0, None, g, g1, 0
        codes1 = self._r4_codes(ctx, res1, 1) if tpr else codes0
        return codes0, codes1, g, g1, 1 if tpr else 0

    def _grad_operands(self, ctx, need_dx):
        """The FP32 operands the gradient GEMMs multiply dY by, as the forward scheme holds
        them: X for dW and W for dX (None without dX). A block format quantizes each along
        the backward GEMM's reduction axis (the batch for X, the outputs for W); q4 gives
        the forward's PACT/pixel activations and SAWB weights, dequantized."""
        if self.fwd == "q4":
            x, q = self._x, self._w
            wq = (int4_decode(q.codes).astype(np.float32) * np.float32(q.scale)
                  if need_dx else None)
            return x.dequant(), wq
        fmt, stats = self.fwd, ctx.stats
        return (block_quantize(self._x, fmt, 0, stats=stats),
                block_quantize(self.params["w"], fmt, 0, stats=stats) if need_dx else None)

    def _backward_block(self, dy, ctx, need_dx):
        """dW = dY^T X and dX = dY W with dY block-quantized along each GEMM's reduction axis
        by the configured rounding, one seed per GEMM (as R4's phases), and X, W as the
        forward scheme holds them (:meth:`_grad_operands`)."""
        check_finite(dy, f"{self.name} output gradient")
        fmt, stats, rounding = self.grad, ctx.stats, ctx.config.rounding
        xq, wq = self._grad_operands(ctx, need_dx)
        d0 = block_quantize(dy, fmt, 0, rounding=rounding, seed=self._grad_seed(ctx, 0),
                            stats=stats)
        self.grads["w"] = d0.T @ xq
        if not need_dx:
            return None
        d1 = block_quantize(dy, fmt, 1, rounding=rounding, seed=self._grad_seed(ctx, 1),
                            stats=stats)
        return d1 @ wq

    def _check_in(self, shape):
        if len(shape) != 2 or shape[1] != self.n_in:
            raise ValueError(f"{self.name}: input shape {shape} does not match the input width "
                             f"{self.n_in}")


#: The FP32 value of every FP16 bit pattern (the exact widening).
_FP16_TO_F32 = np.arange(65536, dtype=np.uint16).view(np.float16).astype(np.float32)


def _scaled(h: np.ndarray, scale: float, transpose: bool) -> np.ndarray:
    """FP16 read-out values times an FP32 scale, row-major (transposed first if asked).

    The values widen exactly to FP32 by table lookup (NumPy's float16 cast is scalar code and
    twice as slow), then one FP32 multiply rounds each product, as it would after the cast.
    """
    f = np.take(_FP16_TO_F32, (h.T if transpose else h).view(np.uint16))
    f *= np.float32(scale)
    return f


class Linear(_GemmLayer):
    """Fully connected layer, y = x W^T + b, W of shape (n_out, n_in)."""

    def __init__(self, name, n_in, n_out, *, precision="q4", rng):
        super().__init__(name, n_in, n_out, precision=precision, rng=rng)

    def forward(self, x, ctx):
        y = self._forward_mat(x, ctx)
        self._out_shape = y.shape
        return y

    def backward(self, dy, ctx, need_dx=True):
        self._check_grad(dy, self._out_shape)
        return self._backward_mat(dy, ctx, need_dx)


def _im2col(x: np.ndarray, k: int, stride: int, pad: int) -> tuple[np.ndarray, int, int]:
    """(N, C, H, W) -> (N*Ho*Wo, C*k*k) patches, zero padded (code 0 is value 0 for UINT4)."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))
    win = win[:, :, ::stride, ::stride]                  # (N, C, Ho, Wo, k, k)
    ho, wo = win.shape[2], win.shape[3]
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * k * k)
    return np.ascontiguousarray(cols), ho, wo


def _col2im(cols, shape, k, stride, pad, ho, wo) -> np.ndarray:
    """Adjoint of :func:`_im2col`: scatter-add patch gradients back onto the input."""
    n, c, h, w = shape
    d = cols.reshape(n, ho, wo, c, k, k).transpose(0, 3, 4, 5, 1, 2)   # (N, C, k, k, Ho, Wo)
    out = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=cols.dtype)
    for i in range(k):
        for j in range(k):
            out[:, :, i:i + stride * ho:stride, j:j + stride * wo:stride] += d[:, :, i, j]
    return out[:, :, pad:pad + h, pad:pad + w]


class Conv2d(_GemmLayer):
    """2-D convolution (NCHW, square kernel) as im2col onto the same GEMM as Linear."""

    def __init__(self, name, c_in, c_out, k=3, *, stride=1, pad=1, precision="q4", rng):
        c_in, c_out, k = check_int(c_in, "c_in"), check_int(c_out, "c_out"), check_int(k, "k")
        stride = check_int(stride, "stride")
        pad = check_int(pad, "pad", 0, "a non-negative integer")
        super().__init__(name, c_in * k * k, c_out, precision=precision, rng=rng)
        self.c_in, self.k, self.stride, self.pad = c_in, k, stride, pad

    def forward(self, x, ctx):
        arr = x.codes if isinstance(x, QAct) else np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{self.name} input must be an array of real numbers or a QAct, "
                            f"not dtype {arr.dtype}")
        if arr.ndim != 4 or arr.shape[1] != self.c_in:
            raise ValueError(f"{self.name}: input shape {arr.shape} is not (N, {self.c_in}, H, W)")
        if min(arr.shape[2:]) + 2 * self.pad < self.k:
            raise ValueError(f"{self.name}: input shape {arr.shape} padded by {self.pad} is "
                             f"smaller than the {self.k}x{self.k} kernel")
        cols, ho, wo = _im2col(arr, self.k, self.stride, self.pad)
        y = self._forward_mat(QAct.trusted(cols, x.scale) if isinstance(x, QAct) else cols, ctx)
        self._in_shape, self._ho, self._wo = arr.shape, ho, wo
        self._out_shape = (arr.shape[0], self.n_out, ho, wo)
        return y.reshape(arr.shape[0], ho, wo, self.n_out).transpose(0, 3, 1, 2)

    def backward(self, dy, ctx, need_dx=True):
        self._check_grad(dy, self._out_shape)
        dmat = dy.transpose(0, 2, 3, 1).reshape(-1, self.n_out)
        dcols = self._backward_mat(np.ascontiguousarray(dmat), ctx, need_dx)
        if dcols is None:
            return None
        return _col2im(dcols, self._in_shape, self.k, self.stride, self.pad, self._ho, self._wo)
