"""golden.backend: the boundary between the training step (host) and the 4-bit arithmetic
(docs/training.md, section "The backend interface").

A training step calls exactly three operations through a :class:`Backend`, plus one ablation:

========================  ======================================================================
``gemm``                  a_codes uint8 (M, K) INT4/UINT4 patterns; b_codes uint8 (K, N)
                          INT4/UINT4/R4 patterns; a_format, b_format (str); phase (int 0/1, the
                          TPR phase of R4 operand B); acc_width (int).
                          -> :class:`golden.gemm.GemmResult`: acc int64 (M, N) exact
                          accumulators (R4 products in units of 2^-7 at scale exponent 0),
                          overflow bool (M, N) sticky saturation flags.
``readout``               acc int64 (M, N); exp_offset (int, signed 9-bit).
                          -> :class:`golden.gemm.ReadoutResult`: values float16 (M, N) =
                          RNE(acc * 2^exp_offset), overflow bool (saturated to +-65504).
``quantize_grad``         fp16 float16 (any shape, C order = stream order); phase (0/1);
                          scale_exp (int, signed 8-bit GradScale exponent g); rounding
                          ("nearest"/"stochastic"); seed (int 1..2^32-1, or None for nearest).
                          -> :class:`golden.formats.R4Result`: codes uint8 R4 patterns,
                          invalid bool (NaN/Inf input), saturated bool (finite, clipped).
``gemm_fp16`` (ablation)  as ``gemm`` but exp_offset instead of acc_width
                          -> :class:`golden.gemm.Fp16GemmResult`: values float16, overflow bool.
========================  ======================================================================

Two optional fused operations combine these for the training step's hot path, so that a fast
backend can share work between them; :class:`BackendBase` defines each as the primitives it
stands for, so a backend that inherits it (an RTL backend, say) needs nothing new and every
primitive still crosses the interface on its own:

=========================  =====================================================================
``quantize_grad_tpr``      ``quantize_grad`` of one tensor in phase 0 and in phase 1 (TPR), with
                           ``seeds`` = (phase-0 seed, phase-1 seed), or None for nearest.
                           -> (R4Result of phase 0, R4Result of phase 1).
``gemm_readout``           ``gemm`` then ``readout`` of its accumulators (``exp_offset``).
                           -> :class:`GemmReadout`: the GEMM's overflow flags, the read-out.
=========================  =====================================================================

Nothing else crosses: scales of SAWB/PACT, softmax, SGD stay on the host. A backend that
returns the same integers and flags for the same inputs gives a bit-identical training run;
``verif/golden/test_layers.py`` checks that with a second, independently written backend.
:func:`golden.checks.check_crossing` is called on every tensor at the boundary so that a
backend never has to guess a dtype.

Modules: :mod:`~golden.backend.base` (the protocol and :class:`BackendBase`),
:mod:`~golden.backend.reference` (:class:`NumpyBackend`, the reference functions themselves) and
:mod:`~golden.backend.table` (:class:`TableBackend`, the same results from precomputed tables).
"""

from golden.backend.base import Backend, BackendBase, GemmReadout
from golden.backend.reference import NumpyBackend
from golden.backend.table import TableBackend
from golden.checks import check_crossing  # noqa: F401  (sim/ imports it from here)

__all__ = ["Backend", "BackendBase", "GemmReadout", "NumpyBackend", "TableBackend",
           "check_crossing"]
