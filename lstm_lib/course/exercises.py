"""The functions a learner writes into ``my_lstm``, and where the book teaches each one."""

import importlib
from dataclasses import dataclass

PACKAGE = "my_lstm"
"""The name of the learner's package (the reference is ``lstm_lib``)."""


@dataclass(frozen=True)
class Exercise:
    """One function or class of ``my_lstm``.

    Args:
        name: its name, the same in ``my_lstm`` and in ``lstm_lib``.
        module: the module of ``my_lstm`` that holds it (``"cell"`` for ``my_lstm/cell.py``),
            and of ``lstm_lib``, which has the same modules.
        sections: ``(chapter number, section title)`` pairs, titles as the chapters spell them.
        passes: what passing the check means: the end of the line a passing check prints.
    """

    name: str
    module: str
    sections: tuple[tuple[int, str], ...]
    passes: str

    @property
    def chapter(self) -> str:
        """The chapter numbers, ``"4"`` or ``"6, 7"``."""
        return ", ".join(dict.fromkeys(str(n) for n, _ in self.sections))

    def where(self) -> str:
        """``chapter 4, section “The whole step, and the library's version”``."""
        parts = [f"chapter {n}, section “{plain_title(title)}”" for n, title in self.sections]
        return " and ".join(parts)

    def reference(self):
        """The library's own function or class, ``lstm_lib.<module>.<name>``: the answer key."""
        return getattr(importlib.import_module(f"lstm_lib.{self.module}"), self.name)

    def stub_message(self) -> str:
        return f"{self.name}: not written yet; see {self.where()}"


def plain_title(title: str) -> str:
    """A heading without its Markdown: ``Top-$k$`` -> ``Top-k``, backticks removed."""
    return title.replace("$", "").replace("`", "")


EXERCISES = (
    Exercise(
        "batchify",
        "batching",
        ((2, "Parallel streams"),),
        "the streams and the dropped remainder are lstm_lib's",
    ),
    Exercise(
        "get_batch",
        "batching",
        ((2, "Parallel streams"),),
        "inputs and targets of every window, the short last one included, are lstm_lib's",
    ),
    Exercise(
        "lstm_step",
        "cell",
        ((4, "The whole step, and the library's version"),),
        (
            "I_t, F_t, O_t, C̃_t, C_t and H_t match lstm_lib's on random float64 inputs, "
            "and the gradients match finite differences"
        ),
    ),
    Exercise(
        "LSTMLayer",
        "layer",
        ((5, "Unrolling over time"),),
        (
            "outputs and final state match nn.LSTM's with the same weights, "
            "and the gradients through time match finite differences"
        ),
    ),
    Exercise(
        "StackedLSTM",
        "layer",
        ((5, "Stacking layers"),),
        "outputs and final states of two layers match nn.LSTM's, with dropout between layers only",
    ),
    Exercise(
        "CharLSTM",
        "model",
        ((5, "The language-model head"),),
        "its parts, logits and state match embedding → nn.LSTM → head with the same weights",
    ),
    Exercise(
        "train_step",
        "train",
        ((6, "Why the state must be detached"), (7, "What `clip_grad_norm_` does")),
        "loss, gradient norm, clipping and the detached state of two consecutive windows are lstm_lib's",
    ),
    Exercise(
        "evaluate",
        "evaluation",
        ((8, "Computing perplexity correctly"),),
        "the mean NLL per character, a short last window included, is lstm_lib's",
    ),
    Exercise(
        "next_char_distribution",
        "sampling",
        ((9, "Sampling with a temperature"), (9, "Top-$k$: cutting off the tail")),
        "temperature and top-k give lstm_lib's probabilities",
    ),
    Exercise(
        "step_backward",
        "backward",
        ((12, "One step, with every intermediate named"),),
        "dA_t and dC_{t-1} match autograd on random float64 inputs",
    ),
)
"""Every exercise, in the order of the chapters."""

BY_NAME = {exercise.name: exercise for exercise in EXERCISES}
MODULES = ("cell", "layer", "model", "batching", "train", "evaluation", "sampling", "backward")
"""The modules of ``my_lstm`` (besides ``__init__``), in import order."""
