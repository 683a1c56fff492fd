"""The fast backends agree with plain autograd, and fail clearly when they cannot run.

Parity with ``nn.LSTM`` and float64 gradcheck for every backend live in
``test_parity.py``; these tests cover what is special to each backend. The
``"autograd"`` backend is :meth:`lstm_lib.layer.LSTMLayer.forward` itself; the others
are the :class:`~lstm_lib.layer.Backend` values of :mod:`lstm_lib.fast.backends`.
"""

import os
import subprocess
import sys

import pytest
import torch

from lstm_lib import CharLSTM, LSTMLayer, ModelConfig, UsageError
from lstm_lib.backward import backward_sequence, forward_sequence
from lstm_lib.cell import lstm_step
from lstm_lib.fast import compiled
from lstm_lib.fast.backends import COMPILED, MANUAL, run_compiled, run_manual
from lstm_lib.fast.sequence import LSTMSequence
from lstm_lib.fast.step_kernels import EAGER
from lstm_lib.layer import BACKENDS, backend_names, get_backend

from .helpers import without_a_cpp_compiler


def run_autograd(XW, H, C, W_h):
    """``(outputs, H_T, C_T)`` of :meth:`LSTMLayer.forward`, the ``"autograd"`` backend, run on
    ``XW`` as a backend's ``run`` is: the layer's input projection is made the identity
    (``W_x = I``, ``b = 0``, exact in floating point), so its input X is ``XW`` itself, and
    ``W_h`` is the tensor given (gradients reach it)."""
    hidden = H.shape[1]
    layer = LSTMLayer(4 * hidden, hidden).to(XW.dtype)
    assert layer.backend == "autograd" and "forward" not in vars(layer)
    weights = {
        "cell.W_x": torch.eye(4 * hidden, dtype=XW.dtype),
        "cell.b": torch.zeros(4 * hidden, dtype=XW.dtype),
        "cell.W_h": W_h,
    }
    outputs, (H_T, C_T) = torch.func.functional_call(layer, weights, (XW, (H, C)))
    return outputs, H_T, C_T


def random_inputs(seq_len=6, batch=3, hidden=5, dtype=torch.float64, seed=0):
    """``(XW, H0, C0, W_h)`` for a small recurrence."""
    generator = torch.Generator().manual_seed(seed)
    XW = torch.randn(seq_len, batch, 4 * hidden, generator=generator, dtype=dtype)
    H0, C0 = (torch.randn(batch, hidden, generator=generator, dtype=dtype) for _ in range(2))
    W_h = torch.randn(hidden, 4 * hidden, generator=generator, dtype=dtype) / hidden**0.5
    return XW, H0, C0, W_h


def forward_and_grads(backend, inputs, requires_grad=(True, True, True, True)):
    leaves = [t.clone().requires_grad_(r) for t, r in zip(inputs, requires_grad, strict=True)]
    outputs, H, C = backend(*leaves)
    upstream = torch.linspace(-1, 1, outputs.numel(), dtype=outputs.dtype).view_as(outputs)
    loss = (outputs * upstream).sum() + (H**2).sum() + (C**3).sum()
    loss.backward()
    return (outputs, H, C), [leaf.grad for leaf in leaves]


@pytest.mark.parametrize(
    "requires_grad",
    [
        (True, True, True, True),
        (True, False, False, True),  # training: the carried state is detached
        (False, True, True, False),
        (False, False, False, True),
    ],
)
def test_manual_matches_autograd_for_every_subset_of_inputs(requires_grad):
    inputs = random_inputs()
    ref_out, ref_grads = forward_and_grads(run_autograd, inputs, requires_grad)
    out, grads = forward_and_grads(run_manual, inputs, requires_grad)
    for a, b in zip(out, ref_out, strict=True):
        assert torch.allclose(a, b, atol=1e-12)
    for g, ref_g, needed in zip(grads, ref_grads, requires_grad, strict=True):
        if needed:
            assert torch.allclose(g, ref_g, atol=1e-10)
        else:
            assert g is None


def test_manual_gradcheck_of_the_function_itself():
    XW, H0, C0, W_h = (t.requires_grad_() for t in random_inputs(seq_len=4, batch=2, hidden=3))

    def sequence(XW, H0, C0, W_h):
        return LSTMSequence.apply(XW, H0, C0, W_h, EAGER)

    assert torch.autograd.gradcheck(sequence, (XW, H0, C0, W_h))


def test_manual_without_grad_builds_no_graph_and_keeps_no_activations():
    inputs = random_inputs(dtype=torch.float32)
    XW, H0, C0, W_h = (t.clone().requires_grad_() for t in inputs)
    with torch.no_grad():
        outputs, H, C = run_manual(XW, H0, C0, W_h)
    ref_outputs, ref_H, ref_C = run_autograd(*inputs)
    assert not outputs.requires_grad and outputs.grad_fn is None
    assert torch.allclose(outputs, ref_outputs, atol=1e-6) and torch.allclose(C, ref_C, atol=1e-6)
    _, _, saved = forward_sequence(*inputs, EAGER, keep_activations=False)
    assert saved == ([], [], []), "inference keeps no per-step activations"


def test_backward_sequence_returns_gate_gradients_of_every_step():
    XW, H0, C0, W_h = random_inputs(seq_len=5)
    _, _, (C_prev, gates, tanh_C) = forward_sequence(XW, H0, C0, W_h, EAGER)
    assert [len(kept) for kept in (C_prev, gates, tanh_C)] == [5, 5, 5]
    d_outputs = torch.randn(5, 3, 5, dtype=torch.float64)
    zeros = torch.zeros_like(H0)
    dA, dH0, dC0 = backward_sequence(d_outputs, zeros, zeros, W_h, C_prev, gates, tanh_C, EAGER)
    XW_leaf = XW.clone().requires_grad_()
    outputs, _, _ = run_autograd(XW_leaf, H0, C0, W_h)
    (outputs * d_outputs).sum().backward()
    assert dA.shape == XW.shape and torch.allclose(dA, XW_leaf.grad, atol=1e-12)


def test_manual_accepts_non_contiguous_inputs():
    XW, H0, C0, W_h = random_inputs()
    W_h_t = W_h.t().contiguous().t()  # same values, transposed strides
    XW_strided = XW.transpose(0, 1).contiguous().transpose(0, 1)
    out, _ = forward_and_grads(run_manual, (XW_strided, H0, C0, W_h_t))
    ref, _ = forward_and_grads(run_autograd, (XW, H0, C0, W_h))
    assert torch.allclose(out[0], ref[0], atol=1e-12)


def test_switching_backend_keeps_the_loss():
    torch.manual_seed(0)
    model = CharLSTM(ModelConfig(vocab_size=9, embedding_size=4, hidden_size=6, num_layers=2))
    tokens = torch.randint(0, 9, (7, 3))
    losses = {}
    for name in ("autograd", "manual"):
        model.set_backend(name)
        model.zero_grad()
        logits, _ = model(tokens)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 9), tokens.reshape(-1))
        loss.backward()
        losses[name] = (loss.item(), model.lstm.layers[0].cell.W_h.grad.clone())
    assert losses["autograd"][0] == pytest.approx(losses["manual"][0], abs=1e-6)
    assert torch.allclose(losses["autograd"][1], losses["manual"][1], atol=1e-6)


def test_every_backend_is_registered_and_unknown_names_are_refused():
    assert {"autograd", "manual", "compiled"} <= set(backend_names())
    assert get_backend("autograd") is None, "autograd is LSTMLayer.forward itself"
    assert BACKENDS["manual"] is MANUAL and get_backend("manual") is MANUAL
    assert BACKENDS["compiled"] is COMPILED and get_backend("compiled") is COMPILED
    with pytest.raises(UsageError, match="choose one of: autograd, compiled, manual") as caught:
        get_backend("cudnn")
    assert caught.value.parameter == "backend"


def test_set_backend_replaces_forward_on_the_instance_and_autograd_gives_it_back():
    torch.manual_seed(0)
    model = CharLSTM(ModelConfig(vocab_size=9, embedding_size=4, hidden_size=6, num_layers=2))
    assert model.set_backend("manual") is model, "set_backend returns the model"
    layers = model.lstm.layers
    assert model.backend == model.lstm.backend == "manual"
    assert all(layer.backend == "manual" and "forward" in vars(layer) for layer in layers)
    other = LSTMLayer(4, 6)
    assert other.backend == "autograd" and "forward" not in vars(other), "other layers keep their forward"
    assert model.lstm.set_backend("autograd") is model.lstm
    assert all(layer.backend == "autograd" and "forward" not in vars(layer) for layer in layers)
    assert all(layer.forward.__func__ is LSTMLayer.forward for layer in layers)
    with pytest.raises(UsageError, match="unknown backend 'nope'"):
        LSTMLayer(4, 6).set_backend("nope")


def test_compiled_backend_reports_unavailable_compilation_as_usage_error(monkeypatch):
    monkeypatch.setattr(compiled, "_compile_graph", without_a_cpp_compiler)
    monkeypatch.setattr(compiled, "_compiled", {})
    with pytest.raises(UsageError, match="choose the backend manual") as caught:
        run_compiled(*random_inputs(dtype=torch.float32))
    assert caught.value.parameter == "backend"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_compiled_kernels_match_the_eager_step_arithmetic(dtype):
    inputs = random_inputs(dtype=dtype)
    ref_out, ref_grads = forward_and_grads(run_manual, inputs)
    out, grads = forward_and_grads(run_compiled, inputs)
    atol = 1e-5 if dtype == torch.float32 else 1e-12
    for a, b in zip(out + tuple(grads), ref_out + tuple(ref_grads), strict=True):
        assert torch.allclose(a, b, atol=atol)


def test_compiled_kernels_compile_once_per_shape(monkeypatch):
    compiles = []

    def counting(function, example_inputs):
        compiles.append(tuple(example_inputs[0].shape))
        return real_compile_graph(function, example_inputs)

    real_compile_graph = compiled._compile_graph
    monkeypatch.setattr(compiled, "_compile_graph", counting)
    monkeypatch.setattr(compiled, "_compiled", {})
    forward_and_grads(run_compiled, random_inputs(seq_len=7, batch=2, hidden=4, dtype=torch.float32))
    assert compiles == [(2, 16), (2, 4)]  # forward and backward, once each
    # another window length, and every step's buffers at other offsets: nothing new
    forward_and_grads(run_compiled, random_inputs(seq_len=9, batch=2, hidden=4, dtype=torch.float32))
    assert len(compiles) == 2
    # another batch: both again
    forward_and_grads(run_compiled, random_inputs(seq_len=3, batch=5, hidden=4, dtype=torch.float32))
    assert len(compiles) == 4


def test_compiled_kernels_accept_an_expanded_final_state_gradient():
    XW, H, C, W_h = random_inputs(seq_len=4, batch=3, hidden=5, dtype=torch.float32)
    grads = {}
    for run in (run_manual, run_compiled):
        leaf = W_h.detach().requires_grad_()
        _, H_T, C_T = run(XW, H, C, leaf)
        (H_T.sum() + C_T.sum()).backward()  # gradients of (batch, hidden) ones, expanded from a scalar
        grads[run] = leaf.grad
    assert torch.allclose(grads[run_manual], grads[run_compiled], atol=1e-5)


def kernel_kinds():
    return {"eager": EAGER, "compiled": compiled.compiled_kernels_for(torch.zeros(3, 5, dtype=torch.float64))}


def one_step(batch=3, hidden=5, seed=1):
    """``(XW_t, H_prev, C_prev, W_h)`` in float64, and upstream gradients for H_t and C_t."""
    generator = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    inputs = (r(batch, 4 * hidden), r(batch, hidden), r(batch, hidden), r(hidden, 4 * hidden) / hidden**0.5)
    return inputs, r(batch, hidden), r(batch, hidden)


@pytest.mark.parametrize("kind", ["eager", "compiled"])
def test_step_kernels_forward_is_lstm_step(kind):
    (XW_t, H_prev, C_prev, W_h), _, _ = one_step()
    H, C, (I, F, O, C_tilde) = lstm_step(XW_t, H_prev, C_prev, W_h)
    gates, C_k, tanh_C, H_k = kernel_kinds()[kind].forward(H_prev @ W_h, XW_t, C_prev)
    assert torch.allclose(gates, torch.cat([I, F, O, C_tilde], dim=1), atol=1e-12)
    assert torch.allclose(C_k, C, atol=1e-12) and torch.allclose(H_k, H, atol=1e-12)
    assert torch.allclose(tanh_C, torch.tanh(C), atol=1e-12)


@pytest.mark.parametrize("kind", ["eager", "compiled"])
def test_step_kernels_backward_is_autograd_of_one_step(kind):
    (XW_t, H_prev, C_prev, W_h), dH, dC_next = one_step()
    XW_leaf, C_leaf = XW_t.clone().requires_grad_(), C_prev.clone().requires_grad_()
    H, C, _ = lstm_step(XW_leaf, H_prev, C_leaf, W_h)
    d_out = torch.randn(dH.shape, generator=torch.Generator().manual_seed(2), dtype=dH.dtype)
    ((H * (dH + d_out)).sum() + (C * dC_next).sum()).backward()
    kernels = kernel_kinds()[kind]
    gates, _, tanh_C, _ = kernels.forward(H_prev @ W_h, XW_t, C_prev)
    dA = torch.full_like(XW_t, float("nan"))  # every element must be written
    dC_prev = kernels.backward(dH, d_out, dC_next.clone(), gates, tanh_C, C_prev, dA)
    assert torch.allclose(dA, XW_leaf.grad, atol=1e-12), "dA_t: the gradient of the pre-activations"
    assert torch.allclose(dC_prev, C_leaf.grad, atol=1e-12), "dC_{t-1}"


def inductor_cache_dir_in_a_capped_process(program):
    """What ``program`` prints in a fresh process capped to ``ATEN_CPU_CAPABILITY=default``."""
    env = {k: v for k, v in os.environ.items() if k != "TORCHINDUCTOR_CACHE_DIR"}
    result = subprocess.run(
        [sys.executable, "-c", program],
        env={**env, "ATEN_CPU_CAPABILITY": "default"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_a_capped_cpu_capability_gets_its_own_compile_cache():
    """TorchInductor's disk cache mixes kernels across ATEN_CPU_CAPABILITY values; lstm_lib keeps
    them apart."""
    program = "import os, lstm_lib; print(os.environ['TORCHINDUCTOR_CACHE_DIR'])"
    assert inductor_cache_dir_in_a_capped_process(program).endswith("_default")


def test_the_capped_cache_is_chosen_before_an_optimizer_step_asks_torchinductor_for_one():
    """The folder must be chosen before anything in the process first asks TorchInductor for
    it, and the first optimizer step does (``torch.optim``): a model trained with autograd,
    then switched to the compiled backend, must still compile into the capped folder."""
    program = """
import torch
from lstm_lib import CharLSTM, ModelConfig
model = CharLSTM(ModelConfig(vocab_size=5, embedding_size=4, hidden_size=4))
optimizer = torch.optim.Adam(model.parameters())
logits, _ = model(torch.zeros(3, 2, dtype=torch.long))
logits.sum().backward()
optimizer.step()
model.set_backend("compiled")
from torch._inductor.runtime.cache_dir_utils import cache_dir  # where compiling will write
print(cache_dir())
"""
    assert inductor_cache_dir_in_a_capped_process(program).endswith("_default")
