"""The course: the learner's own package ``my_lstm``, its grader and its use, and the book's checks.

    python -m lstm_lib.course start DIR     # write DIR/my_lstm/, every function a stub
    python -m lstm_lib.course grade DIR     # check each function against lstm_lib

In Python: :func:`start` (or :func:`write_package`), :func:`grade` and :func:`format_table`;
:func:`use_student_package`, which later chapters call to run on the learner's functions
wherever they pass; :func:`check` and :func:`stub`, for a chapter's check and exercise cells.
The book's other check cells call :func:`check_close` and :func:`check_function`, and the
``check_*`` functions of :mod:`~lstm_lib.course.extensions` grade the exercises that extend
the library (peepholes, the backward pass through time, variational dropout, nucleus
sampling). A wrong answer raises :class:`ExerciseError`.

The modules:

- :mod:`~lstm_lib.course.exercises`: the exercises of ``my_lstm`` and where the book teaches them;
- :mod:`~lstm_lib.course.package`: writing ``my_lstm`` from ``template/`` and lstm_lib's own code;
- :mod:`~lstm_lib.course.loader`: finding ``my_lstm`` and importing it afresh;
- :mod:`~lstm_lib.course.grader`: grading every exercise, each in isolation;
- :mod:`~lstm_lib.course.grading`: the checks, one module per module of ``my_lstm``;
- :mod:`~lstm_lib.course.compare`: the one kit for comparing an answer with the reference;
- :mod:`~lstm_lib.course.check_cells`: :func:`check` and :func:`stub`;
- :mod:`~lstm_lib.course.student_package`: :func:`use_student_package`;
- :mod:`~lstm_lib.course.extensions`: the checks of the exercises that extend the library.
"""

from .check_cells import check, stub
from .compare import ExerciseError, check_close, check_function
from .exercises import EXERCISES, PACKAGE, Exercise
from .extensions import check_bptt_backward, check_peephole_step, check_top_p, check_variational_dropout
from .grader import FAIL, NOT_STARTED, PASS, Result, format_table, grade
from .package import package_files, render, write_package
from .student_package import CoursePackage, use_student_package

start = write_package

__all__ = [
    "EXERCISES",
    "FAIL",
    "NOT_STARTED",
    "PACKAGE",
    "PASS",
    "CoursePackage",
    "Exercise",
    "ExerciseError",
    "Result",
    "check",
    "check_bptt_backward",
    "check_close",
    "check_function",
    "check_peephole_step",
    "check_top_p",
    "check_variational_dropout",
    "format_table",
    "grade",
    "package_files",
    "render",
    "start",
    "stub",
    "use_student_package",
    "write_package",
]
