"""The grader's checks of ``my_lstm``: one module per module of ``my_lstm`` (and of ``lstm_lib``).

Each ``check_<name>(student)`` runs the learner's function or class on seeded float64
inputs, compares the result with what ``lstm_lib``'s own function gives (or ``nn.LSTM``,
or autograd), and raises :class:`~lstm_lib.course.compare.ExerciseError` naming the first
known mistake the wrong result matches. A known mistake is the library's function with the
wrong line a learner writes (:func:`~lstm_lib.course.compare.mistaken`); the grader's table
of checks is :data:`lstm_lib.course.grader.CHECKS`.
"""
