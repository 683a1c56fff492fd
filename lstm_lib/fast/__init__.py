"""What makes the LSTM fast (chapters 12-13), behind the modules the learner writes.

- :mod:`~lstm_lib.fast.matmul`: the per-step products (oneDNN on CPUs, checked at first use);
- :mod:`~lstm_lib.fast.step_kernels`: one step's elementwise work, eager and in place;
- :mod:`~lstm_lib.fast.compiled`: the same compiled by TorchInductor, once per shape;
- :mod:`~lstm_lib.fast.sequence`: the whole sequence as one autograd node, with the
  hand-written backward of :mod:`lstm_lib.backward`;
- :mod:`~lstm_lib.fast.backends`: the backends ``"manual"`` and ``"compiled"``, registered
  into :mod:`lstm_lib.layer` when this package is imported.
"""

from . import backends  # noqa: F401 (registers the backends)
