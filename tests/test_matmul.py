"""The recurrence's products agree with float64 ``torch.mm``, whichever library
computes them, and oneDNN is used exactly where it is meant to be."""

import pytest
import torch

from lstm_lib import matmul
from lstm_lib.matmul import FixedWeightProduct, summed_outer_products

onednn = pytest.mark.skipif(matmul._onednn_linear is None, reason="this PyTorch has no oneDNN")


def random(*shape, dtype=torch.float32, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.fixture(params=["onednn where it pays", "onednn always", "torch only"])
def library(request, monkeypatch):
    """Run a test with the default threshold, with oneDNN forced for small
    products (so these small tests exercise it) and with oneDNN off."""
    if request.param == "onednn always":
        monkeypatch.setattr(matmul, "MIN_ONEDNN_MACS", 0)
    if request.param == "torch only":
        monkeypatch.setattr(matmul, "use_onednn", False)
    return request.param


@pytest.mark.parametrize("batch", [1, 64])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fixed_weight_product_is_rows_times_weight(library, batch, dtype):
    W, rows = random(48, 96, dtype=dtype), random(batch, 48, dtype=dtype, seed=1)
    expected = rows.double() @ W.double()
    product = FixedWeightProduct(W, batch)
    for _ in range(2):  # the reordered weight is reused
        result = product(rows)
        assert result.shape == (batch, 96) and result.dtype == dtype
        assert torch.allclose(result.double(), expected, atol=1e-4 if dtype == torch.float32 else 1e-12)


def test_fixed_weight_product_accepts_a_transposed_weight(library):
    # the backward pass multiplies by W_hᵀ, a transposed view
    W = random(48, 96).t()
    rows = random(16, 96, seed=1)
    expected = rows.double() @ W.double()
    assert torch.allclose(FixedWeightProduct(W, 16)(rows).double(), expected, atol=1e-4)


def test_summed_outer_products_is_x_transposed_times_y(library):
    X, Y = random(300, 24), random(300, 40, seed=1)
    expected = X.double().t() @ Y.double()
    result = summed_outer_products(X, Y)
    assert result.shape == (24, 40)
    assert torch.allclose(result.double(), expected, atol=1e-4)
    assert torch.allclose(summed_outer_products(X.double(), Y.double()), expected, atol=1e-12)


@onednn
def test_onednn_is_used_only_where_it_pays():
    W_h = random(256, 1024)
    assert FixedWeightProduct(W_h, 64).uses_onednn  # the book's training step
    assert FixedWeightProduct(W_h.t(), 64).uses_onednn  # and its backward
    assert not FixedWeightProduct(W_h, 1).uses_onednn  # generation, batch 1
    assert not FixedWeightProduct(random(32, 128), 64).uses_onednn  # too small to pay
    assert not FixedWeightProduct(W_h.double(), 64).uses_onednn  # float64 (gradcheck)
    with matmul.onednn_allowed(False):
        assert not FixedWeightProduct(W_h, 64).uses_onednn


def test_onednn_allowed_restores_the_setting():
    assert matmul.use_onednn
    with pytest.raises(ValueError), matmul.onednn_allowed(False):
        assert not matmul.use_onednn
        raise ValueError
    assert matmul.use_onednn


@pytest.mark.parametrize("needs_X_grad", [True, False])
def test_linear_and_its_gradients_match_addmm(library, needs_X_grad):
    X = random(5, 12, 48).requires_grad_(needs_X_grad)
    W, b = random(48, 96, seed=1).requires_grad_(), random(96, seed=2).requires_grad_()
    upstream = random(5, 12, 96, seed=3)
    out = matmul.linear(X, W, b)
    assert out.shape == (5, 12, 96)
    X64, W64, b64 = (t.detach().double().requires_grad_() for t in (X, W, b))
    expected = torch.addmm(b64, X64.reshape(-1, 48), W64).view(5, 12, 96)
    assert torch.allclose(out.double(), expected, atol=1e-4)
    leaves = [t for t in (X, W, b) if t.requires_grad]
    grads = torch.autograd.grad((out * upstream).sum(), leaves)
    expected_grads = torch.autograd.grad((expected * upstream.double()).sum(), [X64, W64, b64])
    expected_grads = [g for g, t in zip(expected_grads, (X, W, b), strict=True) if t.requires_grad]
    for got, want in zip(grads, expected_grads, strict=True):
        assert torch.allclose(got.double(), want, atol=1e-4)
