"""lstm_lib: a character-level LSTM language model built from scratch in PyTorch.

The pieces, in the order the book builds them:

- :mod:`lstm_lib.corpus`, :mod:`lstm_lib.vocab`, :mod:`lstm_lib.batching`: text to id windows;
- :mod:`lstm_lib.cell`: one time step, gate by gate;
- :mod:`lstm_lib.layer`, :mod:`lstm_lib.backends`: the cell over a sequence, and stacked;
- :mod:`lstm_lib.model`: embedding, stacked LSTM and output head;
- :mod:`lstm_lib.train`, :mod:`lstm_lib.evaluation`: truncated BPTT and perplexity;
  :mod:`lstm_lib.run_state`, :mod:`lstm_lib.checkpoint`, :mod:`lstm_lib.progress`: a run's
  bookkeeping; :mod:`lstm_lib.distributed`: the same run over ``torchrun`` processes;
- :mod:`lstm_lib.generate`: sampling text;
- :mod:`lstm_lib.manual_backward`, :mod:`lstm_lib.step_kernels`, :mod:`lstm_lib.compiled`,
  :mod:`lstm_lib.matmul`: the hand-written backward and what makes it fast (chapters 12-13);
- :mod:`lstm_lib.course`: the learner's own package ``my_lstm`` and its grader.
"""

__version__ = "1.1.0"  # before the imports: lstm_lib.run_state records it in checkpoints

from .batching import batchify, get_batch, split_ids, window_starts
from .cell import GATES, LSTMCell, lstm_step
from .checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from .errors import UsageError
from .evaluation import bits_per_character, evaluate, perplexity
from .generate import generate, next_char_distribution
from .layer import LSTMLayer, StackedLSTM, detach_state
from .model import CharLSTM, ModelConfig
from .train import TrainConfig, Trainer, train_step
from .vocab import Vocabulary

__all__ = [
    "GATES",
    "CharLSTM",
    "LSTMCell",
    "LSTMLayer",
    "ModelConfig",
    "StackedLSTM",
    "TrainConfig",
    "Trainer",
    "UsageError",
    "Vocabulary",
    "batchify",
    "bits_per_character",
    "detach_state",
    "evaluate",
    "generate",
    "get_batch",
    "load_checkpoint",
    "lstm_step",
    "model_from_checkpoint",
    "next_char_distribution",
    "perplexity",
    "save_checkpoint",
    "split_ids",
    "train_step",
    "window_starts",
]
