"""Whole training runs, behind the modules the learner writes.

- :mod:`~lstm_lib.runs.trainer`: :class:`Trainer`, the loop over epochs, and its exact resume;
- :mod:`~lstm_lib.runs.state`: what a run saves and restores;
- :mod:`~lstm_lib.runs.checkpoint`: writing and reading checkpoints, atomically;
- :mod:`~lstm_lib.runs.text`: which text a run trains on, and checking it on resume;
- :mod:`~lstm_lib.runs.safety`: no run replaces another's checkpoints; one writer per folder;
- :mod:`~lstm_lib.runs.distributed`: the same run over ``torchrun`` processes;
- :mod:`~lstm_lib.runs.progress`: the progress bar;
- :mod:`~lstm_lib.runs.cli`: ``python -m lstm_lib``.
"""

from .trainer import Trainer, TrainingDiverged

__all__ = ["Trainer", "TrainingDiverged"]
