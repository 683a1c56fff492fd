"""lstm_lib: a character-level LSTM language model built from scratch in PyTorch.

In front, the modules the learner writes, in the order the book builds them (the
learner's package ``my_lstm`` has the same modules, with the same names):

- :mod:`lstm_lib.batching`: text to parallel streams and BPTT windows (chapter 2);
- :mod:`lstm_lib.cell`: one time step, gate by gate (chapter 4);
- :mod:`lstm_lib.layer`: the cell over a sequence, and layers stacked (chapter 5);
- :mod:`lstm_lib.model`: embedding, stacked LSTM and output head (chapter 5);
- :mod:`lstm_lib.train`: one truncated-BPTT update with clipping, and its settings (chapters 6-7);
- :mod:`lstm_lib.evaluation`: cross-entropy, perplexity, bits per character (chapter 8);
- :mod:`lstm_lib.sampling`: temperature and top-k sampling, and generating text (chapter 9);
- :mod:`lstm_lib.backward`: the backward pass through time by hand (chapter 12);

beside them the plain pieces they need: :mod:`lstm_lib.corpus`, :mod:`lstm_lib.vocab`,
:mod:`lstm_lib.interop` (weights to and from ``nn.LSTM``), :mod:`lstm_lib.errors`,
:mod:`lstm_lib.atomic`. Behind them:

- :mod:`lstm_lib.fast`: what makes the LSTM fast (chapter 13), registered into the layer as backends;
- :mod:`lstm_lib.runs`: whole training runs: the trainer, checkpoints and exact resume,
  ``torchrun``, the command line;
- :mod:`lstm_lib.course`: the learner's package ``my_lstm``, its grader and the book's checks.

The names below are imported on first use, so that ``import lstm_lib.cell`` loads the
cell and nothing behind it.
"""

import getpass
import importlib
import os
import tempfile

from .version import __version__  # noqa: F401 (lstm_lib.__version__)


def _keep_capped_kernels_apart() -> None:
    """Give each ``ATEN_CPU_CAPABILITY`` its own TorchInductor disk cache.

    The cache (PyTorch 2.13) does not tell kernels built under different values
    of that variable apart: a kernel cached by an uncapped run gave wrong numbers
    (a loss of 4e34) in a run capped to AVX2. Unless ``TORCHINDUCTOR_CACHE_DIR``
    names a folder already, a capped process uses one named after its capability.
    Called when the package is imported, because the folder must be chosen before
    anything in the process (``torch.optim`` included) first asks TorchInductor for
    it; it changes nothing unless ``ATEN_CPU_CAPABILITY`` is set."""
    capability = os.environ.get("ATEN_CPU_CAPABILITY")
    if capability and not os.environ.get("TORCHINDUCTOR_CACHE_DIR"):
        folder = f"torchinductor_{getpass.getuser()}_{capability.lower()}"
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(tempfile.gettempdir(), folder)


_keep_capped_kernels_apart()

_PUBLIC = {
    "batching": ("batchify", "get_batch", "split_ids", "window_starts"),
    "cell": ("GATES", "LSTMCell", "lstm_step"),
    "layer": ("LSTMLayer", "StackedLSTM", "detach_state"),
    "model": ("CharLSTM", "ModelConfig"),
    "train": ("TrainConfig", "train_step"),
    "evaluation": ("bits_per_character", "evaluate", "perplexity"),
    "sampling": ("generate", "next_char_distribution"),
    "vocab": ("Vocabulary",),
    "errors": ("UsageError",),
    "runs.trainer": ("Trainer",),
    "runs.checkpoint": ("load_checkpoint", "model_from_checkpoint", "save_checkpoint"),
}
_MODULE_OF = {name: module for module, names in _PUBLIC.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted({*globals(), *__all__})
