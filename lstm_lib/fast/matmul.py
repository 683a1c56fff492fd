"""The recurrence's matrix products: ``rows @ W`` with one fixed ``W``, and
the weight gradient ``Xᵀ Y`` over all steps.

Walking a sequence multiplies every step's ``(batch, ·)`` rows by the same
weight: ``H_{t-1} W_h`` forward, ``dA_t W_hᵀ`` backward. At these small shapes
the general-purpose product (``torch.mm``, Intel MKL on most CPU builds) is
far from the machine's peak, and on some CPUs (AMD's among them) it runs
without their widest vector instructions. ``nn.LSTM`` on the CPU runs on
oneDNN instead, which PyTorch ships; its product with a weight reordered once
into oneDNN's blocked layout is what :class:`FixedWeightProduct` uses where it
pays: CPU, float32, and a product of at least :data:`MIN_ONEDNN_MACS`
multiply-adds. Everywhere else (a GPU, float64, small products such as batch 1
during generation, a PyTorch without oneDNN) it is ``torch.mm``. Both
compute the same float32 product; only the order of the additions, and so the
last bits, differ.

oneDNN's linear operation is reached through two private operators,
``torch.ops.mkldnn._linear_pointwise`` and ``_reorder_linear_weight``, whose
positional arguments PyTorch does not document. So they are used only after a
check at first use: a small product, and one with a reordered weight, must
match ``torch.mm``. Should the check fail (an exception or a wrong number),
every product takes the public ``torch.mm`` path from then on, and a
debug-level ``logging`` note says why. :func:`product_path` tells which path
runs.

Use :func:`onednn_allowed` to switch oneDNN off inside a ``with`` block, to
measure the difference (chapter 13 does).
"""

import contextvars
import logging
from contextlib import contextmanager

import torch

logger = logging.getLogger(__name__)

MIN_ONEDNN_MACS = 2**21
"""oneDNN's linear op costs about 17 µs per call however small the product, so
below about two million multiply-adds PyTorch's general product is as fast or faster.
Measured on a 2-core AMD EPYC with AVX-512: ``(8, 256) @ (256, 1024)`` takes 38 µs
in oneDNN against 91 µs, ``(32, 128) @ (128, 512)`` 32 µs against 37 µs,
``(8, 128) @ (128, 512)`` 19 µs against 17 µs, and generation's
``(1, 256) @ (256, 1024)`` 22 µs against 15 µs (and, since generation reorders the
weight for every character, far more in practice).

``benchmarks/bench_products.py`` times such products both ways, counting the
weight's reordering as the library pays it, and marks every shape where this
threshold picks the slower path. On the machine above, both with its AVX-512
kernels and capped to AVX2's code paths (``ATEN_CPU_CAPABILITY=avx2
ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2``), it picks the faster
path for generation at batch 1 and for training at batch 8 and more at hidden
256 and 512; it misjudges a few small products near the threshold (batch 4
at hidden 256, where oneDNN would be 1.4-1.9× faster, and ``(32, 128) @ (128, 512)``,
15% slower in oneDNN with AVX-512). Run it on a new kind of machine."""

ONEDNN = "oneDNN"
"""What :func:`product_path` returns when oneDNN computes the large products."""

_allowed = contextvars.ContextVar("onednn_allowed", default=True)


@contextmanager
def onednn_allowed(allowed: bool):
    """Allow or forbid oneDNN for the products inside a ``with`` block (and
    restore the previous choice after it)."""
    token = _allowed.set(allowed)
    try:
        yield
    finally:
        _allowed.reset(token)


def _find_onednn():
    """oneDNN's linear op and weight reordering, or ``(None, None)`` where this
    PyTorch lacks them."""
    try:
        if torch.backends.mkldnn.is_available():
            return torch.ops.mkldnn._linear_pointwise, torch.ops.mkldnn._reorder_linear_weight
    except (AttributeError, RuntimeError):  # pragma: no cover - builds without these private ops
        pass
    return None, None  # pragma: no cover


class CheckedOneDNN:
    """oneDNN's private linear ops, used only once they have computed a
    product right.

    Args:
        linear: ``torch.ops.mkldnn._linear_pointwise`` or None.
        reorder: ``torch.ops.mkldnn._reorder_linear_weight`` or None.
    """

    def __init__(self, linear, reorder):
        self.linear = linear
        self.reorder = reorder
        self._path = None  # decided at the first call of path()

    def path(self) -> str:
        """:data:`ONEDNN`, or ``"torch.mm (why oneDNN is not used)"``; the check
        runs on the first call, and a failure is logged once."""
        if self._path is None:
            problem = self._problem()
            self._path = ONEDNN if problem is None else f"torch.mm ({problem})"
            if problem is not None:
                logger.debug("lstm_lib.fast.matmul: products use torch.mm: %s", problem)
        return self._path

    def works(self) -> bool:
        return self.path() == ONEDNN

    def product(self, X, W_out_in, bias=None):
        """``X W_out_inᵀ + bias``: oneDNN's linear takes the weight as (out, in)."""
        return self.linear(X, W_out_in, bias, "none", [None], "")

    def _problem(self):
        """None if a plain and a reordered-weight product match ``torch.mm``,
        else what went wrong."""
        if self.linear is None or self.reorder is None:
            return "this PyTorch has no oneDNN"
        generator = torch.Generator().manual_seed(0)
        X, W, b = (torch.randn(*shape, generator=generator) for shape in ((8, 32), (32, 48), (48,)))
        expected = torch.mm(X, W)
        try:
            plain = self.product(X, W.t().contiguous(), b)
            reordered = self.product(X, self.reorder(W.t().contiguous(), X.shape[0]))
        except Exception as error:  # any failure of an undocumented op means: do not use it
            return f"oneDNN's linear failed its check: {type(error).__name__}: {error}".splitlines()[0]
        for name, got, want in (("product", plain, expected + b), ("reordered product", reordered, expected)):
            if not (isinstance(got, torch.Tensor) and got.shape == want.shape):
                return f"oneDNN's {name} returned the wrong shape"
            if not torch.allclose(got, want, rtol=1e-4, atol=1e-4):
                return f"oneDNN's {name} differs from torch.mm by {(got - want).abs().max().item():.2g}"
        return None


_onednn = CheckedOneDNN(*_find_onednn())


def product_path() -> str:
    """Which library computes the products large enough for oneDNN to pay here:
    :data:`ONEDNN`, or ``"torch.mm (the reason)"``."""
    if not _allowed.get():
        return "torch.mm (onednn_allowed(False))"
    return _onednn.path()


def _onednn_pays(W, rows):
    """Whether oneDNN should compute ``(rows, W.shape[0]) @ W``."""
    return (
        W.device.type == "cpu"
        and W.dtype == torch.float32
        and rows * W.shape[0] * W.shape[1] >= MIN_ONEDNN_MACS
        and _allowed.get()
        and _onednn.works()
    )


class FixedWeightProduct:
    """``rows @ W`` for many ``rows`` with one weight ``W``.

    Args:
        W: ``(in_features, out_features)``; read once here, so it must not
            change while this object is in use.
        batch: the number of rows each call will have.

    Call with ``rows`` ``(batch, in_features)``; returns a new
    ``(batch, out_features)`` tensor. Adding to it is left to the caller:
    oneDNN's fused addition was no faster than a separate ``add_``, and the
    compiled kernels of :mod:`lstm_lib.fast.compiled` do the addition for free.
    """

    def __init__(self, W, batch):
        self.W = W
        # oneDNN's linear takes the weight as (out_features, in_features), here
        # reordered once into its blocked layout.
        self.packed = _onednn.reorder(W.t().contiguous(), batch) if _onednn_pays(W, batch) else None

    @property
    def uses_onednn(self) -> bool:
        return self.packed is not None

    def __call__(self, rows):
        if self.packed is None:
            return rows @ self.W
        return _onednn.product(rows, self.packed)


def summed_outer_products(X, Y):
    """``Xᵀ Y`` for tall ``X`` ``(rows, a)`` and ``Y`` ``(rows, b)``: a weight
    gradient, summed over all rows at once. Returns ``(a, b)``.

    Through oneDNN under the same conditions as :class:`FixedWeightProduct`
    (about 1.6× faster than ``torch.mm`` at ``(6400, 256)ᵀ (6400, 1024)`` on
    the machine above).
    """
    if not _onednn_pays(Y, X.shape[1]):  # (a, rows) @ (rows, b)
        return X.t() @ Y
    return _onednn.product(X.t(), Y.t())  # Xᵀ (Yᵀ)ᵀ


class _OneDNNLinear(torch.autograd.Function):
    """``X W + b`` with all three products of forward and backward in oneDNN."""

    @staticmethod
    def forward(ctx, X, W, b):
        ctx.save_for_backward(X, W)
        return _onednn.product(X, W.t().contiguous(), b)

    @staticmethod
    def backward(ctx, dY):
        X, W = ctx.saved_tensors
        dY = dY.contiguous()
        need_X, need_W, need_b = ctx.needs_input_grad
        # dY Wᵀ: W, (in, out), is already the (out', in') layout oneDNN wants
        dX = _onednn.product(dY, W.contiguous()) if need_X else None
        dW = summed_outer_products(X, dY) if need_W else None
        db = dY.sum(0) if need_b else None
        return dX, dW, db


def linear(X, W, b):
    """``X W + b`` for ``X`` ``(..., in_features)``, ``W`` ``(in_features, out_features)``
    and ``b`` ``(out_features,)``; returns ``(..., out_features)``.

    The same as ``torch.addmm(b, X, W)``, but where oneDNN pays (the conditions
    of :class:`FixedWeightProduct`) the product and both gradient products run
    in oneDNN: an LSTM layer's input projection, the largest products of a
    training step.
    """
    rows = X.reshape(-1, X.shape[-1])
    if _onednn_pays(W, rows.shape[0]):
        out = _OneDNNLinear.apply(rows.contiguous(), W, b)
    else:
        out = torch.addmm(b, rows, W)
    return out.view(*X.shape[:-1], W.shape[1])
