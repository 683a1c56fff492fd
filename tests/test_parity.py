"""The from-scratch LSTM computes exactly what torch.nn.LSTM computes."""

import pytest
import torch

from lstm_lib import CharLSTM, LSTMCell, LSTMLayer, ModelConfig, StackedLSTM, lstm_step
from lstm_lib.course.grading.layer import torch_twin
from lstm_lib.fast import matmul
from lstm_lib.interop import copy_from_torch_lstm, torch_layout
from lstm_lib.layer import GATE_TRACE_NAMES, backend_names

TOL = 1e-5


def run_both(num_layers, backend="autograd", input_size=7, hidden=12, seq_len=9, batch=4, seed=0):
    """Forward + backward through our StackedLSTM and nn.LSTM with the same weights (the grader's twin)."""
    torch.manual_seed(seed)
    ours = StackedLSTM(input_size, hidden, num_layers).set_backend(backend)
    ref = torch_twin(ours, input_size, hidden, num_layers, dtype=torch.float32)
    X = torch.randn(seq_len, batch, input_size)
    H0 = torch.randn(num_layers, batch, hidden)
    C0 = torch.randn(num_layers, batch, hidden)
    upstream = torch.randn(seq_len, batch, hidden)
    results = []
    for model in (ref, ours):
        x, h0, c0 = (t.clone().requires_grad_() for t in (X, H0, C0))
        out, (H, C) = model(x, (h0, c0))
        loss = (out * upstream).sum() + (H**2).sum() + (C**3).sum()
        loss.backward()
        results.append({"out": out, "H": H, "C": C, "dX": x.grad, "dH0": h0.grad, "dC0": c0.grad})
    return ref, ours, results[0], results[1]


def max_error(num_layers, backend="autograd"):
    """Largest absolute difference over outputs, states and every gradient."""
    ref, ours, r, o = run_both(num_layers, backend)
    # a wrong equation can leave an input unused, so its gradient is None
    errors = [(r[k] - (o[k] if o[k] is not None else 0)).abs().max().item() for k in r]
    H = ours.hidden_size
    for k, layer in enumerate(ours.layers):
        cell = layer.cell
        errors.append(
            (torch_layout(cell.W_x.grad, H) - getattr(ref, f"weight_ih_l{k}").grad).abs().max().item()
        )
        errors.append(
            (torch_layout(cell.W_h.grad, H) - getattr(ref, f"weight_hh_l{k}").grad).abs().max().item()
        )
        # d loss / d b equals the gradient of either of nn.LSTM's two biases
        errors.append((torch_layout(cell.b.grad, H) - getattr(ref, f"bias_ih_l{k}").grad).abs().max().item())
    return max(errors)


@pytest.mark.parametrize("backend", backend_names())
@pytest.mark.parametrize("num_layers", [1, 2])
def test_matches_nn_lstm_outputs_states_and_gradients(num_layers, backend):
    assert max_error(num_layers, backend) < TOL


@pytest.mark.parametrize("backend", ["manual", "compiled"])
def test_matches_nn_lstm_with_the_onednn_products(monkeypatch, backend):
    # oneDNN normally takes only products big enough to pay; here, every one
    monkeypatch.setattr(matmul, "MIN_ONEDNN_MACS", 0)
    assert max_error(2, backend) < TOL


def test_named_gate_blocks_are_views_of_the_fused_weights():
    cell = LSTMCell(3, 5)
    assert cell.W_xi.shape == (3, 5) and cell.W_hc.shape == (5, 5) and cell.b_f.shape == (5,)
    assert torch.equal(cell.b, torch.zeros(20)), "every bias starts at 0 by default, b_f included"
    assert torch.equal(LSTMCell(3, 5, forget_bias=1.0).b_f, torch.ones(5)), "forget_bias sets the f block"
    assert torch.equal(LSTMCell(3, 5, forget_bias=1.0).b_i, torch.zeros(5)), "and only the f block"
    assert torch.equal(torch.cat([cell.W_xi, cell.W_xf, cell.W_xo, cell.W_xc], dim=1), cell.W_x)
    assert cell.W_hf.data_ptr() == cell.W_h.data_ptr() + 5 * cell.W_h.element_size()


def test_single_cell_step_matches_nn_lstm_cell():
    torch.manual_seed(1)
    ref = torch.nn.LSTMCell(4, 6)
    stacked = StackedLSTM(4, 6, 1)
    lstm = torch.nn.LSTM(4, 6, 1)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(ref.weight_ih)
        lstm.weight_hh_l0.copy_(ref.weight_hh)
        lstm.bias_ih_l0.copy_(ref.bias_ih)
        lstm.bias_hh_l0.copy_(ref.bias_hh)
    copy_from_torch_lstm(stacked, lstm)
    x, h, c = torch.randn(2, 4), torch.randn(2, 6), torch.randn(2, 6)
    H_ref, C_ref = ref(x, (h, c))
    H, C = stacked.layers[0].cell(x, (h, c))
    assert torch.allclose(H, H_ref, atol=TOL) and torch.allclose(C, C_ref, atol=TOL)


@pytest.mark.parametrize("backend", backend_names())
def test_gradcheck_float64(backend):
    torch.manual_seed(0)
    layer = StackedLSTM(3, 4, num_layers=2).set_backend(backend).double()
    X = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    H0 = torch.randn(2, 2, 4, dtype=torch.float64, requires_grad=True)
    C0 = torch.randn(2, 2, 4, dtype=torch.float64, requires_grad=True)
    params = list(layer.parameters())

    names = [name for name, _ in layer.named_parameters()]

    def fn(X, H0, C0, *weights):
        out, (H, C) = torch.func.functional_call(layer, dict(zip(names, weights, strict=True)), (X, (H0, C0)))
        return out, H, C

    assert torch.autograd.gradcheck(fn, (X, H0, C0, *[p.detach().requires_grad_() for p in params]))


def test_trace_records_every_gate_and_agrees_with_forward():
    torch.manual_seed(0)
    model = CharLSTM(ModelConfig(vocab_size=11, embedding_size=5, hidden_size=6, num_layers=2))
    tokens = torch.randint(0, 11, (8, 3))
    logits, (H, C) = model(tokens)
    t_logits, (tH, tC), traces = model.trace(tokens)
    assert torch.allclose(logits, t_logits, atol=1e-6) and torch.allclose(C, tC, atol=1e-6)
    assert len(traces) == 2
    for trace in traces:
        assert set(trace) == {"I", "F", "O", "C_tilde", "C", "H"}
        assert all(v.shape == (8, 3, 6) for v in trace.values())
        assert torch.allclose(trace["H"], trace["O"] * torch.tanh(trace["C"]), atol=1e-6)
    assert torch.allclose(traces[1]["H"][-1], H[1], atol=1e-6)


@pytest.mark.parametrize("backend", backend_names())
def test_trace_is_lstm_step_at_every_step(backend):
    torch.manual_seed(0)
    layer = LSTMLayer(4, 6).set_backend(backend)
    X, H, C = torch.randn(7, 3, 4), torch.randn(3, 6), torch.randn(3, 6)
    outputs, (H_T, C_T), trace = layer.trace(X, (H, C))
    with torch.no_grad():
        for t, XW_t in enumerate(layer.cell.input_projection(X).unbind(0)):
            H, C, (I, F, O, C_tilde) = lstm_step(XW_t, H, C, layer.cell.W_h)
            for name, value in zip(GATE_TRACE_NAMES, (I, F, O, C_tilde, C, H), strict=True):
                assert torch.allclose(trace[name][t], value, atol=1e-6), f"{name} at step {t}"
    assert torch.equal(outputs, trace["H"]) and torch.equal(H_T, trace["H"][-1])
    assert torch.allclose(C_T, C, atol=1e-6)


def test_untrained_loss_is_close_to_log_vocab_size():
    torch.manual_seed(0)
    V = 75
    model = CharLSTM(ModelConfig(vocab_size=V))
    tokens = torch.randint(0, V, (50, 8))
    logits, _ = model(tokens)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), tokens.reshape(-1))
    assert abs(loss.item() - torch.log(torch.tensor(float(V))).item()) < 0.05
