"""Checks of the model's pieces: one step, the layer, the stack, the language model, the backward step.

Each ``check_<name>(student)`` runs the learner's function or class on random
float64 inputs and raises :class:`~lstm_lib.course.compare.Mismatch` naming the
first wrong line of the equations it can tell.
"""

from types import SimpleNamespace

import torch
from torch import nn

from .. import interop
from ..cell import lstm_step as reference_step
from ..model import ModelConfig
from .compare import Mismatch, close, expect_close, expect_tensor

DTYPE = torch.float64
GATE_NAMES = ("I_t", "F_t", "O_t", "C̃_t")
GATE_LETTERS = ("i", "f", "o", "c")
NOT_DIFFERENTIABLE = (
    "gradients through {what} do not match finite differences: is something detached, "
    "changed in place or computed outside autograd?"
)


def _random(generator, *shape, scale=1.0):
    return torch.randn(*shape, generator=generator, dtype=DTYPE) * scale


def _pair(value, what: str):
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise Mismatch(f"{what} should be a pair, got {type(value).__name__}")
    return value


def _gradcheck(fn, inputs, what: str) -> None:
    inputs = tuple(x.detach().clone().requires_grad_() for x in inputs)
    if not torch.autograd.gradcheck(fn, inputs, raise_exception=False):
        raise Mismatch(NOT_DIFFERENTIABLE.format(what=what))


# ---------------------------------------------------------------------------- lstm_step


def check_lstm_step(lstm_step) -> None:
    g = torch.Generator().manual_seed(4)
    batch, hidden = 3, 5
    XW, H_prev, C_prev = _random(g, batch, 4 * hidden), _random(g, batch, hidden), _random(g, batch, hidden)
    W_h = _random(g, hidden, 4 * hidden, scale=0.5)
    H_ref, C_ref, gates_ref = reference_step(XW, H_prev, C_prev, W_h)

    out = lstm_step(XW.clone(), H_prev.clone(), C_prev.clone(), W_h.clone())
    if not isinstance(out, (tuple, list)) or len(out) != 3 or not isinstance(out[2], (tuple, list)):
        raise Mismatch("lstm_step should return (H_t, C_t, (I_t, F_t, O_t, C̃_t))")
    H, C, gates = out
    if len(gates) != 4:
        raise Mismatch(f"the gates should be four tensors (I_t, F_t, O_t, C̃_t), got {len(gates)}")

    pre = (XW + H_prev @ W_h).chunk(4, dim=1)
    input_only = XW.chunk(4, dim=1)
    for k, (name, actual, expected) in enumerate(zip(GATE_NAMES, gates, gates_ref)):
        fn, fn_name = (torch.tanh, "tanh") if k == 3 else (torch.sigmoid, "σ")
        other, other_name = (torch.sigmoid, "σ") if k == 3 else (torch.tanh, "tanh")
        g_ = GATE_LETTERS[k]
        mistakes = [
            (f"{name} looks like it uses {other_name} instead of {fn_name}", other(pre[k])),
            (
                f"{name} looks like it is missing the H_{{t-1}} W_h{g_} term: add H_prev @ W_h to XW_t "
                "before splitting into the four blocks",
                fn(input_only[k]),
            ),
            (f"{name} has no nonlinearity: apply {fn_name} to its block", pre[k]),
            (f"{name} looks like it uses ReLU instead of {fn_name}", torch.relu(pre[k])),
        ]
        mistakes += [
            (
                f"{name} is computed from the {GATE_LETTERS[j]} block of the pre-activations; "
                "the blocks go i, f, o, c",
                fn(pre[j]),
            )
            for j in range(4)
            if j != k
        ]
        expect_close(name, actual, expected, mistakes, f"{fn_name}(X_t W_x{g_} + H_{{t-1}} W_h{g_} + b_{g_})")

    I, F, O, C_tilde = gates_ref
    expect_close(
        "C_t",
        C,
        C_ref,
        [
            ("C_t looks like it is missing the F_t ⊙ C_{t-1} term", I * C_tilde),
            ("C_t looks like it is missing the I_t ⊙ C̃_t term", F * C_prev),
            ("C_t swaps the gates: it should be F_t ⊙ C_{t-1} + I_t ⊙ C̃_t", I * C_prev + F * C_tilde),
            ("C_t uses O_t where F_t belongs", O * C_prev + I * C_tilde),
            ("C_t uses H_{t-1} instead of C_{t-1}", F * H_prev + I * C_tilde),
        ],
        "F_t ⊙ C_{t-1} + I_t ⊙ C̃_t",
    )
    expect_close(
        "H_t",
        H,
        H_ref,
        [
            ("H_t uses C_t instead of tanh(C_t)", O * C_ref),
            ("H_t is missing the output gate: H_t = O_t ⊙ tanh(C_t)", torch.tanh(C_ref)),
            ("H_t uses C_{t-1} instead of C_t", O * torch.tanh(C_prev)),
            ("H_t uses σ(C_t) instead of tanh(C_t)", O * torch.sigmoid(C_ref)),
            ("H_t uses C̃_t instead of tanh(C_t)", O * C_tilde),
        ],
        "O_t ⊙ tanh(C_t)",
    )
    g = torch.Generator().manual_seed(5)
    small = (_random(g, 2, 8), _random(g, 2, 2), _random(g, 2, 2), _random(g, 2, 8, scale=0.5))
    _gradcheck(lambda *xs: tuple(lstm_step(*xs)[:2]), small, "lstm_step")


# ---------------------------------------------------------------------------- LSTMLayer


def _weights(layer):
    cell = getattr(layer, "cell", None)
    if cell is None or not all(hasattr(cell, n) for n in ("W_x", "W_h", "b")):
        raise Mismatch(
            "the layer should keep its parameters in self.cell (W_x, W_h, b), as the template does"
        )
    return cell.W_x, cell.W_h, cell.b


def _loop(layer, X, H0, C0, carry_H=True, carry_C=True, emit="H", shift=False):
    """The recurrence with reference steps, optionally with one of the usual mistakes."""
    W_x, W_h, b = _weights(layer)
    H, C, outputs = H0, C0, []
    for XW_t in (X @ W_x + b).unbind(0):
        H_new, C_new, _ = reference_step(XW_t, H if carry_H else H0, C if carry_C else C0, W_h)
        outputs.append(H if shift else H_new if emit == "H" else C_new)
        H, C = H_new, C_new
    return torch.stack(outputs), (H, C)


def _as_stacked(layer, hidden):
    return SimpleNamespace(num_layers=1, hidden_size=hidden, layers=[layer])


@torch.no_grad()
def _layer_parity(LSTMLayer) -> None:
    seq_len, batch, n_in, hidden = 5, 2, 3, 4
    layer = LSTMLayer(n_in, hidden).to(DTYPE)
    torch_lstm = nn.LSTM(n_in, hidden).to(DTYPE)
    interop.copy_from_torch_lstm(_as_stacked(layer, hidden), torch_lstm)
    g = torch.Generator().manual_seed(6)
    X, H0, C0 = _random(g, seq_len, batch, n_in), _random(g, batch, hidden), _random(g, batch, hidden)
    expected, (H_T, C_T) = torch_lstm(X, (H0[None], C0[None]))

    out = _pair(
        layer(X.clone(), (H0.clone(), C0.clone())), "LSTMLayer.forward's result (outputs, (H_T, C_T))"
    )
    outputs, state = out[0], _pair(out[1], "the final state (H_T, C_T)")
    zeros = torch.zeros_like(H0)
    expect_close(
        "the outputs",
        outputs,
        expected,
        [
            (
                "(H, C) is not carried from one step to the next: every step starts from the initial state",
                _loop(layer, X, H0, C0, carry_H=False, carry_C=False)[0],
            ),
            ("H is not carried from one step to the next", _loop(layer, X, H0, C0, carry_H=False)[0]),
            ("C is not carried from one step to the next", _loop(layer, X, H0, C0, carry_C=False)[0]),
            ("the outputs stack C_t; they should stack H_t", _loop(layer, X, H0, C0, emit="C")[0]),
            ("the outputs start with H_0; they should be H_1 … H_T", _loop(layer, X, H0, C0, shift=True)[0]),
            ("the state argument is ignored: the loop starts from zeros", _loop(layer, X, zeros, zeros)[0]),
        ],
        "H_1 … H_T stacked, as nn.LSTM gives with the same weights",
    )
    for name, actual, want, start in (("H_T", state[0], H_T[0], H0), ("C_T", state[1], C_T[0], C0)):
        expect_close(name, actual, want, [(f"{name} is the initial state, not the last step's", start)])
    outputs, _ = layer(X.clone())
    expect_close("the outputs with state=None (zeros)", outputs, torch_lstm(X)[0])


def check_LSTMLayer(LSTMLayer) -> None:
    _layer_parity(LSTMLayer)
    layer = LSTMLayer(2, 2).to(DTYPE)
    g = torch.Generator().manual_seed(7)
    inputs = (_random(g, 3, 2, 2), _random(g, 2, 2), _random(g, 2, 2))

    def run(X, H0, C0):
        outputs, (H, C) = layer(X, (H0, C0))
        return outputs, H, C

    _gradcheck(run, inputs, "LSTMLayer.forward (through time)")


# ---------------------------------------------------------------------------- StackedLSTM


def _stack_variant(stacked, X, H0, C0, same_input=False, first_state=False):
    outputs, Hs, Cs = X, [], []
    for k, layer in enumerate(stacked.layers):
        start = (H0[0], C0[0]) if first_state else (H0[k], C0[k])
        outputs, (H, C) = _loop(layer, X if same_input else outputs, *start)
        Hs.append(H)
        Cs.append(C)
    return outputs, (torch.stack(Hs), torch.stack(Cs))


@torch.no_grad()
def check_StackedLSTM(StackedLSTM) -> None:
    seq_len, batch, hidden, layers = 5, 2, 4, 2
    g = torch.Generator().manual_seed(8)
    for n_in in (hidden, 3):  # equal sizes first, so that a wrong input can be named
        stacked = StackedLSTM(n_in, hidden, layers).to(DTYPE).eval()
        torch_lstm = nn.LSTM(n_in, hidden, layers).to(DTYPE)
        interop.copy_from_torch_lstm(stacked, torch_lstm)
        X = _random(g, seq_len, batch, n_in)
        H0, C0 = _random(g, layers, batch, hidden), _random(g, layers, batch, hidden)
        expected, (H_n, C_n) = torch_lstm(X, (H0, C0))
        out = _pair(stacked(X.clone(), (H0.clone(), C0.clone())), "StackedLSTM.forward's result")
        outputs, (H, C) = out[0], _pair(out[1], "the final state (H, C)")
        mistakes = []
        if n_in == hidden:
            mistakes = [
                (
                    "every layer reads X; layer k > 0 should read the outputs of layer k-1",
                    _stack_variant(stacked, X, H0, C0, same_input=True)[0],
                ),
                (
                    "every layer starts from the state of layer 0; layer k starts from (H[k], C[k])",
                    _stack_variant(stacked, X, H0, C0, first_state=True)[0],
                ),
                ("the state argument is ignored: the layers start from zeros", torch_lstm(X)[0]),
                (
                    "the outputs are those of the first layer, not the top one",
                    _loop(stacked.layers[0], X, H0[0], C0[0])[0],
                ),
            ]
        expect_close(
            "the outputs", outputs, expected, mistakes, "the top layer's H_1 … H_T, as nn.LSTM gives"
        )
        for name, actual, want in (("H", H, H_n), ("C", C, C_n)):
            if isinstance(actual, torch.Tensor) and actual.shape != want.shape:
                raise Mismatch(
                    f"the final {name} should stack every layer's: shape {tuple(want.shape)} "
                    f"(num_layers, batch, hidden), got {tuple(actual.shape)}"
                )
            expect_close(
                f"the final {name}",
                actual,
                want,
                [("H and C are swapped in the final state", H_n if name == "C" else C_n)],
            )
    _check_dropout(StackedLSTM)


@torch.no_grad()
def _check_dropout(StackedLSTM) -> None:
    g = torch.Generator().manual_seed(9)
    X = _random(g, 5, 3, 4)
    one = StackedLSTM(4, 4, 1, dropout=0.5).to(DTYPE)
    if not close(one.train()(X)[0], one.eval()(X)[0]):
        raise Mismatch("dropout is applied after the top layer; apply it between layers only")
    two = StackedLSTM(4, 4, 2, dropout=0.5).to(DTYPE)
    if close(two.train()(X)[0], two.eval()(X)[0]):
        raise Mismatch("dropout is not applied between layers (self.dropout on the input of layer k > 0)")


# ---------------------------------------------------------------------------- CharLSTM


@torch.no_grad()
def check_CharLSTM(CharLSTM) -> None:
    vocab, emb, hidden, layers, seq_len, batch = 7, 3, 4, 2, 5, 2
    model = CharLSTM(ModelConfig(vocab_size=vocab, embedding_size=emb, hidden_size=hidden, num_layers=layers))
    for name, kind in (("embedding", nn.Embedding), ("lstm", nn.Module), ("head", nn.Linear)):
        if not isinstance(getattr(model, name, None), kind):
            raise Mismatch(
                f"CharLSTM has no {name} ({kind.__name__}); name the parts embedding, lstm, dropout and "
                "head, as lstm_lib does"
            )
    if tuple(model.embedding.weight.shape) != (vocab, emb):
        raise Mismatch(f"the embedding should be nn.Embedding(vocab_size, embedding_size) = ({vocab}, {emb})")
    if tuple(model.head.weight.shape) != (vocab, hidden):
        raise Mismatch(f"the head should be nn.Linear(hidden_size, vocab_size), weight ({vocab}, {hidden})")
    model = model.to(DTYPE).eval()
    torch_lstm = nn.LSTM(emb, hidden, layers).to(DTYPE)
    interop.copy_from_torch_lstm(model.lstm, torch_lstm)
    g = torch.Generator().manual_seed(10)
    tokens = torch.randint(0, vocab, (seq_len, batch), generator=g)
    H0, C0 = _random(g, layers, batch, hidden), _random(g, layers, batch, hidden)
    outputs, (H_n, C_n) = torch_lstm(model.embedding(tokens), (H0, C0))
    expected = model.head(outputs)

    out = _pair(model(tokens, (H0.clone(), C0.clone())), "CharLSTM.forward's result (logits, state)")
    logits, state = out[0], _pair(out[1], "the final state (H, C)")
    expect_close(
        "the logits",
        logits,
        expected,
        [
            ("forward returns probabilities (a softmax); return the logits", expected.softmax(-1)),
            (
                "forward returns log-probabilities (a log-softmax); return the logits",
                expected.log_softmax(-1),
            ),
            ("forward ignores the state argument", model.head(torch_lstm(model.embedding(tokens))[0])),
        ],
        "head(lstm(embedding(tokens)))",
    )
    expect_close("the final H", state[0], H_n)
    expect_close("the final C", state[1], C_n)
    logits, _ = model(tokens)
    expect_close(
        "the logits with state=None (zeros)", logits, model.head(torch_lstm(model.embedding(tokens))[0])
    )


# ---------------------------------------------------------------------------- step_backward


def _backward_variant(
    dH,
    dC,
    gates,
    tanh_C,
    C_prev,
    through_H=True,
    tanh_prime="1-t²",
    gate_prime=True,
    times_F=True,
    order=(0, 1, 2, 3),
):
    I, F, O, C_tilde = gates.chunk(4, dim=1)
    dO = dH * tanh_C
    d_tanh = {"1-t²": 1 - tanh_C**2, "1-t": 1 - tanh_C}[tanh_prime]
    dC_t = dC + dH * O * d_tanh if through_H else dC
    blocks = [dC_t * C_tilde, dC_t * C_prev, dO, dC_t * I]
    if gate_prime:
        blocks = [
            blocks[0] * I * (1 - I),
            blocks[1] * F * (1 - F),
            blocks[2] * O * (1 - O),
            blocks[3] * (1 - C_tilde**2),
        ]
    return torch.cat([blocks[k] for k in order], dim=1), dC_t * F if times_F else dC_t


def check_step_backward(step_backward) -> None:
    g = torch.Generator().manual_seed(11)
    batch, hidden = 3, 4
    XW = _random(g, batch, 4 * hidden).requires_grad_()
    C_prev = _random(g, batch, hidden).requires_grad_()
    H_prev, W_h = _random(g, batch, hidden), _random(g, hidden, 4 * hidden, scale=0.5)
    H, C, gates = reference_step(XW, H_prev, C_prev, W_h)
    dH, dC = _random(g, batch, hidden), _random(g, batch, hidden)
    dA_ref, dC_prev_ref = torch.autograd.grad((H * dH).sum() + (C * dC).sum(), (XW, C_prev))
    saved = (torch.cat(gates, dim=1).detach(), torch.tanh(C).detach(), C_prev.detach())

    out = _pair(
        step_backward(dH.clone(), dC.clone(), *(s.clone() for s in saved)),
        "step_backward's result (dA, dC_prev)",
    )
    dA, dC_prev = out
    expect_tensor("dA", dA, (batch, 4 * hidden))

    def variant(**kw):
        return _backward_variant(dH, dC, *saved, **kw)

    expect_close(
        "dA",
        dA,
        dA_ref,
        [
            (
                "dC_t is missing the path through H_t = O_t ⊙ tanh(C_t): add dH ⊙ O_t ⊙ (1 - tanh²(C_t))",
                variant(through_H=False)[0],
            ),
            ("tanh'(C_t) is written 1 - tanh(C_t); it is 1 - tanh²(C_t)", variant(tanh_prime="1-t")[0]),
            (
                "dA lacks the derivatives of the nonlinearities: σ' = σ(1-σ) and tanh' = 1 - tanh²",
                variant(gate_prime=False)[0],
            ),
            (
                "dA's blocks are in nn.LSTM's order (i, f, g, o); this library uses i, f, o, c",
                variant(order=(0, 1, 3, 2))[0],
            ),
        ],
        "the gradient of the pre-activations A_t, as autograd gives it",
    )
    expect_close(
        "dC_prev",
        dC_prev,
        dC_prev_ref,
        [
            ("dC_{t-1} is missing the factor F_t: dC_{t-1} = dC_t ⊙ F_t", variant(times_F=False)[1]),
            ("dC_{t-1} is missing the path through H_t = O_t ⊙ tanh(C_t)", variant(through_H=False)[1]),
        ],
        "dC_t ⊙ F_t",
    )
