"""The recurrence's products agree with float64 ``torch.mm``, whichever library
computes them, oneDNN is used exactly where it is meant to be, and only after
it has passed its check."""

import logging

import pytest
import torch

from lstm_lib.fast import matmul
from lstm_lib.fast.matmul import FixedWeightProduct, summed_outer_products

onednn = pytest.mark.skipif(not matmul._onednn.works(), reason="no working oneDNN in this PyTorch")


def random(*shape, dtype=torch.float32, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.fixture(params=["onednn where it pays", "onednn always", "torch only"])
def library(request, monkeypatch):
    """Run a test with the default threshold, with oneDNN forced for small
    products (so these small tests exercise it) and with oneDNN off."""
    if request.param == "onednn always":
        monkeypatch.setattr(matmul, "MIN_ONEDNN_MACS", 0)
    with matmul.onednn_allowed(request.param != "torch only"):
        yield request.param


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


@onednn
def test_onednn_allowed_restores_the_setting():
    assert matmul.product_path() == matmul.ONEDNN
    with pytest.raises(ValueError), matmul.onednn_allowed(False):
        assert matmul.product_path().startswith("torch.mm")
        with matmul.onednn_allowed(True):
            assert matmul.product_path() == matmul.ONEDNN
        assert not FixedWeightProduct(random(256, 1024), 64).uses_onednn
        raise ValueError
    assert matmul.product_path() == matmul.ONEDNN


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


def wrong_by_one(X, W, bias, *rest):
    return torch.nn.functional.linear(X, W.to_dense() if W.is_mkldnn else W, bias) + 1


def raising(*args):
    raise RuntimeError("mkldnn::_linear_pointwise() expected 6 arguments")


@onednn
@pytest.mark.parametrize("broken_linear", [raising, wrong_by_one], ids=["raises", "wrong numbers"])
def test_a_broken_onednn_op_falls_back_to_torch_mm_and_says_so_once(monkeypatch, caplog, broken_linear):
    calls = []

    def counted(*args):
        calls.append(args)
        return broken_linear(*args)

    checked = matmul.CheckedOneDNN(counted, matmul._onednn.reorder)
    monkeypatch.setattr(matmul, "_onednn", checked)
    W, rows = random(256, 1024), random(64, 256, seed=1)
    expected = rows.double() @ W.double()
    with caplog.at_level(logging.DEBUG, logger="lstm_lib.fast.matmul"):
        for _ in range(2):
            product = FixedWeightProduct(W, 64)  # big enough for oneDNN to pay
            assert not product.uses_onednn
            assert torch.allclose(product(rows).double(), expected, atol=1e-4)
            assert torch.allclose(summed_outer_products(rows, rows @ W).double(),
                                  rows.double().t() @ expected, atol=1e-2)  # fmt: skip
            assert torch.allclose(matmul.linear(rows, W, torch.zeros(1024)).double(), expected, atol=1e-4)
    assert len(calls) <= 2, "the broken op ran in the check (a product and a reordered one), never again"
    assert matmul.product_path().startswith("torch.mm (oneDNN")
    notes = [record for record in caplog.records if record.name == "lstm_lib.fast.matmul"]
    assert len(notes) == 1 and notes[0].levelno == logging.DEBUG
    assert "torch.mm" in notes[0].getMessage()


def test_a_pytorch_without_onednn_uses_torch_mm(monkeypatch):
    monkeypatch.setattr(matmul, "_onednn", matmul.CheckedOneDNN(None, None))
    assert matmul.product_path() == "torch.mm (this PyTorch has no oneDNN)"
    assert not FixedWeightProduct(random(256, 1024), 64).uses_onednn
