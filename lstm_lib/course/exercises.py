"""The functions a learner writes into ``my_lstm``, and where the book teaches each one."""

from dataclasses import dataclass

PACKAGE = "my_lstm"
"""The name of the learner's package (the reference is ``lstm_lib``)."""


@dataclass(frozen=True)
class Exercise:
    """One function or class of ``my_lstm``.

    Args:
        name: its name, the same in ``my_lstm`` and in ``lstm_lib``.
        module: the module of ``my_lstm`` that holds it (``"cell"`` for ``my_lstm/cell.py``).
        sections: ``(chapter number, section title)`` pairs, titles as the chapters spell them.
    """

    name: str
    module: str
    sections: tuple[tuple[int, str], ...]

    @property
    def chapter(self) -> str:
        """The chapter numbers, ``"4"`` or ``"6, 7"``."""
        return ", ".join(dict.fromkeys(str(n) for n, _ in self.sections))

    def where(self) -> str:
        """``chapter 4, section “The whole step, and the library's version”``."""
        parts = [f"chapter {n}, section “{plain_title(title)}”" for n, title in self.sections]
        return " and ".join(parts)

    def stub_message(self) -> str:
        return f"{self.name}: not written yet; see {self.where()}"


def plain_title(title: str) -> str:
    """A heading without its Markdown: ``Top-$k$`` -> ``Top-k``, backticks removed."""
    return title.replace("$", "").replace("`", "")


EXERCISES = (
    Exercise("batchify", "batching", ((2, "Parallel streams"),)),
    Exercise("get_batch", "batching", ((2, "Consecutive windows continue every stream"),)),
    Exercise("lstm_step", "cell", ((4, "The whole step, and the library's version"),)),
    Exercise("LSTMLayer", "layer", ((5, "Unrolling over time"),)),
    Exercise("StackedLSTM", "layer", ((5, "Stacking layers"),)),
    Exercise("CharLSTM", "model", ((5, "The language-model head"),)),
    Exercise(
        "train_step", "train", ((6, "Why the state must be detached"), (7, "What `clip_grad_norm_` does"))
    ),
    Exercise("evaluate", "evaluation", ((8, "Computing perplexity correctly"),)),
    Exercise(
        "next_char_distribution",
        "sampling",
        ((9, "Sampling with a temperature"), (9, "Top-$k$: cutting off the tail")),
    ),
    Exercise("step_backward", "backward", ((12, "One step, with every intermediate named"),)),
)
"""Every exercise, in the order of the chapters."""

BY_NAME = {exercise.name: exercise for exercise in EXERCISES}
MODULES = ("cell", "layer", "model", "batching", "train", "evaluation", "sampling", "backward")
"""The modules of ``my_lstm`` (besides ``__init__``), in import order."""
