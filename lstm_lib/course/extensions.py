"""Check cells for the exercises that extend the library: peepholes, the backward pass through time,
variational dropout and nucleus sampling.

Each ``check_<name>(candidate)`` runs the learner's function on seeded inputs, compares it
with the right answer and prints one line starting with ``✓`` when it matches, or raises
:class:`~lstm_lib.course.compare.ExerciseError` naming the mistake when it does not. The
right answer comes from the library where it has the piece (the backward pass through
time is :func:`lstm_lib.backward.backward_sequence`, checked against autograd through
:class:`lstm_lib.layer.LSTMLayer`); the peephole step and the nucleus are written here, out
of the check cell (which the student version keeps), so that the cell does not give the
answer away.
"""

import math

import torch

from ..backward import PLAIN, StepKernels, backward_sequence
from ..cell import lstm_step
from ..layer import LSTMLayer
from ..sampling import next_char_distribution
from .compare import DTYPE, ExerciseError, call, close, diagnose, expect_tensors, randn

# ---------------------------------------------------------------------------- peepholes


def peephole_step(XW_t, H_prev, C_prev, W_h, w_ci, w_cf, w_co, o_sees="C", swap=False, skip=""):
    """The reference peephole step, and the variants that known mistakes compute."""
    pre_I, pre_F, pre_O, pre_C = (XW_t + H_prev @ W_h).chunk(4, dim=1)
    if swap:
        w_ci, w_cf = w_cf, w_ci
    I = torch.sigmoid(pre_I + (0 if skip == "i" else w_ci * C_prev))
    F = torch.sigmoid(pre_F + (0 if skip == "f" else w_cf * C_prev))
    C = F * C_prev + I * torch.tanh(pre_C)
    O = torch.sigmoid(pre_O + (0 if skip == "o" else w_co * (C if o_sees == "C" else C_prev)))
    return O * torch.tanh(C), C


def check_peephole_step(candidate) -> None:
    """``candidate(XW_t, H_prev, C_prev, W_h, w_ci, w_cf, w_co) -> (H_t, C_t)``."""
    name = "peephole_step"
    g = torch.Generator().manual_seed(7)
    cases = [(3, 4), (2, 6), (5, 3)]
    for batch, hidden in cases:
        args = (randn(g, batch, 4 * hidden), torch.tanh(randn(g, batch, hidden)), 2 * randn(g, batch, hidden))
        args += (randn(g, hidden, 4 * hidden, scale=0.5), *(randn(g, hidden) for _ in range(3)))  # W_h, w_c*
        got = call(name, candidate, *(a.clone() for a in args))
        H, C = expect_tensors(name, got, ("H_t", "C_t"), ((batch, hidden),) * 2)
        H_ref, C_ref = peephole_step(*args)
        mistakes_C = [
            (
                "I_t and F_t have each other's peephole weights: w_ci belongs to the input gate, "
                "w_cf to the forget gate",
                peephole_step(*args, swap=True)[1],
            ),
            (
                "I_t has no peephole: add w_ci ⊙ C_{t-1} to its pre-activation",
                peephole_step(*args, skip="i")[1],
            ),
            (
                "F_t has no peephole: add w_cf ⊙ C_{t-1} to its pre-activation",
                peephole_step(*args, skip="f")[1],
            ),
            (
                "no gate has a peephole: C_t is that of the plain LSTM",
                lstm_step(*args[:4])[1],
            ),
        ]
        diagnose(name, "C_t", C, C_ref, mistakes_C, "F_t ⊙ C_{t-1} + I_t ⊙ C̃_t with the peephole gates")
        mistakes_H = [
            (
                "O_t looks at C_{t-1}; its peephole sees the new cell state C_t, so compute C_t first",
                peephole_step(*args, o_sees="C_prev")[0],
            ),
            ("O_t has no peephole: add w_co ⊙ C_t to its pre-activation", peephole_step(*args, skip="o")[0]),
            ("H_t uses C_t instead of tanh(C_t)", H_ref / torch.tanh(C_ref) * C_ref),
        ]
        diagnose(name, "H_t", H, H_ref, mistakes_H, "σ(… + w_co ⊙ C_t) ⊙ tanh(C_t)")
    print(f"✓ {name} matches the peephole LSTM of Gers and Schmidhuber on {len(cases)} random cases")


# ---------------------------------------------------------------------------- backward through time


def bptt_backward(dH_out, H0, C0, H, C, gates, W_h, recurrent=True, carry=True, h_prev=True):
    """The backward pass over a whole sequence, by :func:`lstm_lib.backward.backward_sequence`,
    and the variants of known mistakes: ``recurrent=False`` drops the gradient that reaches
    H_t through step t+1, ``carry=False`` the one that reaches C_t along the cell state,
    ``h_prev=False`` pairs ∂L/∂A_t with H_t in dW_h."""

    def step(dH_next, d_out, dC, *saved):  # lstm_lib's step, less what a mistake leaves out
        dH_next = dH_next if recurrent else torch.zeros_like(dH_next)
        return PLAIN.backward(dH_next, d_out, dC if carry else torch.zeros_like(dC), *saved)

    zeros = torch.zeros_like(H0)
    C_prev = torch.cat([C0[None], C[:-1]])
    dA, dH0, dC0 = backward_sequence(
        dH_out, zeros, zeros, W_h, C_prev, gates, torch.tanh(C), kernels=StepKernels(PLAIN.forward, step)
    )
    H_paired = torch.cat([H0[None], H[:-1]]) if h_prev else H
    return dA, H_paired.flatten(0, 1).T @ dA.flatten(0, 1), dH0, dC0


def _autograd_layer(W_h):
    """An :class:`lstm_lib.layer.LSTMLayer` whose input projection is the identity, so that its
    input is XW (and ∂L/∂input is dA), with the recurrent weights ``W_h``."""
    hidden = W_h.shape[0]
    with torch.random.fork_rng(devices=[]):  # its random initialization is overwritten below
        layer = LSTMLayer(4 * hidden, hidden).to(DTYPE)
    with torch.no_grad():
        layer.cell.W_x.copy_(torch.eye(4 * hidden, dtype=DTYPE))
        layer.cell.b.zero_()
        layer.cell.W_h.copy_(W_h)
    return layer


def _sequence(g, T, batch, hidden):
    """A random sequence run forward by lstm_lib's layer: the candidate's arguments, and
    autograd's (dA, dW_h, dH_0, dC_0)."""
    XW, H0, C0 = randn(g, T, batch, 4 * hidden), torch.tanh(randn(g, batch, hidden)), randn(g, batch, hidden)
    W_h, dH_out = randn(g, hidden, 4 * hidden, scale=0.5), randn(g, T, batch, hidden)
    layer = _autograd_layer(W_h)
    leaves = [x.clone().requires_grad_() for x in (XW, H0, C0)]
    outputs, _ = layer(leaves[0], (leaves[1], leaves[2]))
    dA, dH0, dC0, dW_h = torch.autograd.grad((outputs * dH_out).sum(), [*leaves, layer.cell.W_h])
    _, _, trace = layer.trace(XW, (H0, C0))
    gates = torch.cat([trace[name] for name in ("I", "F", "O", "C_tilde")], dim=2)
    return (dH_out, H0, C0, trace["H"], trace["C"], gates, W_h), (dA, dW_h, dH0, dC0)


def check_bptt_backward(candidate) -> None:
    """``candidate(dH_out, H0, C0, H, C, gates, W_h) -> (dA, dW_h, dH0, dC0)``, against autograd."""
    name = "bptt_backward"
    g = torch.Generator().manual_seed(11)
    cases = [(6, 3, 4), (1, 2, 3), (9, 1, 5)]
    for T, batch, hidden in cases:
        forward, expected = _sequence(g, T, batch, hidden)
        got = call(name, candidate, *(x.clone() for x in forward))
        shapes = ((T, batch, 4 * hidden), (hidden, 4 * hidden), (batch, hidden), (batch, hidden))
        dA, dW_h, dH0, dC0 = expect_tensors(name, got, ("dA", "dW_h", "dH_0", "dC_0"), shapes)
        variants = {
            "recurrent": bptt_backward(*forward, recurrent=False),
            "carry": bptt_backward(*forward, carry=False),
        }
        mistakes_A = [
            (
                "∂L/∂H_t is missing the gradient that comes back from step t+1 through the gates, "
                "∂L/∂A_{t+1} W_hᵀ",
                variants["recurrent"][0],
            ),
            (
                "∂L/∂C_t is missing the path along the cell state, ∂L/∂C_{t+1} ⊙ F_{t+1}",
                variants["carry"][0],
            ),
        ]
        diagnose(
            name,
            "dA",
            dA,
            expected[0],
            mistakes_A,
            "the four gate blocks of ∂L/∂A_t, in the order i, f, o, c",
        )
        mistakes_W = [
            (
                "dW_h pairs ∂L/∂A_t with H_t; the product at step t reads H_{t-1} (H_0 at the first step)",
                bptt_backward(*forward, h_prev=False)[1],
            ),
            (
                "dW_h holds the last step's term only: sum H_{t-1}ᵀ ∂L/∂A_t over every step",
                (forward[3][-2] if T > 1 else forward[1]).T @ expected[0][-1],
            ),
        ]
        diagnose(name, "dW_h", dW_h, expected[1], mistakes_W, "Σ_t H_{t-1}ᵀ ∂L/∂A_t")
        diagnose(
            name, "dH_0", dH0, expected[2], [], "∂L/∂A_1 W_hᵀ, the gradient that reaches the initial state"
        )
        diagnose(name, "dC_0", dC0, expected[3], [], "∂L/∂C_1 ⊙ F_1")
    print(f"✓ {name} matches autograd on {len(cases)} random sequences (dA, dW_h, dH_0 and dC_0)")


# ---------------------------------------------------------------------------- variational dropout


def check_variational_dropout(candidate) -> None:
    """``candidate(H, p) -> H`` with one mask per sequence, the same at every time step."""
    name = "variational_dropout"
    T, batch, hidden = 50, 8, 64
    H = (
        torch.randn(T, batch, hidden, generator=torch.Generator().manual_seed(2), dtype=DTYPE).abs() + 0.5
    )  # no zeros: a zero in the output is a drop
    for p in (0.5, 0.2):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(3)
            out = call(name, candidate, H.clone(), p)
        (out,) = expect_tensors(name, out, ("the result",), ((T, batch, hidden),))
        ratio = (out / H).detach()
        kept = ratio != 0
        if not torch.equal(kept, kept[:1].expand_as(kept)):
            raise ExerciseError(
                f"{name}: the mask changes from one time step to the next (that is ordinary dropout); "
                "draw one (batch, hidden) mask and apply it at every step"
            )
        if torch.equal(kept[0], kept[0, :1].expand_as(kept[0])):
            raise ExerciseError(
                f"{name}: every sequence of the batch has the same mask; "
                "draw one per sequence, shape (batch, hidden)"
            )
        fraction = kept[0].double().mean().item()
        spread = 4 * math.sqrt(p * (1 - p) / kept[0].numel())
        if abs(fraction - p) < spread < abs(fraction - (1 - p)):
            raise ExerciseError(
                f"{name}: it keeps a fraction p of the units; p is the probability of dropping one"
            )
        if abs(fraction - (1 - p)) > spread:
            raise ExerciseError(
                f"{name}: it keeps {fraction:.0%} of the units with p = {p}; expected about {1 - p:.0%}"
            )
        values = ratio[kept]
        if close(values, torch.ones_like(values)):
            raise ExerciseError(
                f"{name}: the kept units are not scaled; divide them by 1 - p so that the mean is unchanged"
            )
        if not close(values, torch.full_like(values, 1 / (1 - p))):
            raise ExerciseError(
                f"{name}: the kept units should be multiplied by 1/(1 - p) = {1 / (1 - p):.3f}"
            )
    with torch.random.fork_rng(devices=[]):
        out = call(name, candidate, H.clone(), 0.0)
    if not close(out, H):
        raise ExerciseError(f"{name}: with p = 0 the input should come back unchanged")
    print(f"✓ {name} keeps one mask per sequence at every time step, scaled by 1/(1 - p)")


# ---------------------------------------------------------------------------- nucleus sampling


def top_p_distribution(logits, temperature=1.0, p=0.9, crossing=True, renormalize=True):
    """The reference nucleus distribution, and the variants of known mistakes."""
    probs = next_char_distribution(logits, temperature)
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    mass = sorted_probs.cumsum(dim=-1)
    keep_sorted = (mass - sorted_probs < p) if crossing else (mass < p)
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    kept = probs * keep
    return kept / kept.sum(dim=-1, keepdim=True) if renormalize else kept


def check_top_p(candidate) -> None:
    """``candidate(logits, temperature, p) -> (..., vocab)`` nucleus probabilities."""
    name = "top_p_distribution"
    g = torch.Generator().manual_seed(5)
    peaked = torch.tensor([[6.0, 2.0, 1.0, 0.5, 0.0, -1.0]], dtype=DTYPE)
    cases = [
        (torch.randn(4, 10, generator=g, dtype=DTYPE) * 2, 1.0, 0.9),
        (torch.randn(3, 75, generator=g, dtype=DTYPE) * 3, 0.7, 0.5),
        (torch.randn(2, 5, 20, generator=g, dtype=DTYPE), 1.5, 0.95),
        (peaked, 1.0, 0.5),  # the top character alone holds more than p
        (torch.randn(2, 8, generator=g, dtype=DTYPE), 1.0, 1.0),  # p = 1 keeps everything
    ]
    for logits, temperature, p in cases:
        got = call(name, candidate, logits.clone(), temperature, p)
        (got,) = expect_tensors(name, got, ("the probabilities",), (tuple(logits.shape),))
        expected = top_p_distribution(logits, temperature, p)
        mistakes = [
            (
                f"it leaves out the character whose probability carries the mass past p (p = {p}); "
                "the nucleus is the smallest set whose mass is at least p, so it includes that character",
                top_p_distribution(logits, temperature, p, crossing=False),
            ),
            (
                "the kept probabilities do not sum to 1: divide them by their sum",
                top_p_distribution(logits, temperature, p, renormalize=False),
            ),
            (
                f"the temperature is not applied (T = {temperature}): "
                "divide the logits by it before the softmax",
                top_p_distribution(logits, 1.0, p),
            ),
        ]
        diagnose(
            name,
            f"the distribution (p = {p}, T = {temperature})",
            got,
            expected,
            mistakes,
            "softmax(logits / T) restricted to the nucleus and renormalized, in the original order",
        )
    print(f"✓ {name} keeps the smallest set of characters with mass at least p, on {len(cases)} cases")
