"""my_lstm: your own LSTM language model, written chapter by chapter.

Each module mirrors one of the reference library ``lstm_lib``, with the same
function and class names, so that the reference is the answer key; what is
ready-made (``LSTMCell``, the layers' parameters and zero states) is lstm_lib's:

- ``cell.py``: ``lstm_step`` (chapter 4);
- ``layer.py``: ``LSTMLayer.forward`` and ``StackedLSTM.forward`` (chapter 5);
- ``model.py``: ``CharLSTM`` (chapter 5);
- ``batching.py``: ``batchify`` and ``get_batch`` (chapter 2);
- ``train.py``: ``train_step`` (chapters 6 and 7);
- ``evaluation.py``: ``evaluate`` (chapter 8);
- ``sampling.py``: ``next_char_distribution`` (chapter 9);
- ``backward.py``: ``step_backward`` (chapter 12).

Replace each ``raise NotImplementedError(...)`` with your code, then check it:

    python -m lstm_lib.course grade DIR

where DIR is the folder that holds this ``my_lstm``. Later chapters use every
function of yours that passes (``lstm_lib.course.use_student_package()``).
"""
