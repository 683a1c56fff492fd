"""The student track: the learner's own package ``my_lstm``, its grader, and its use.

    python -m lstm_lib.course start DIR     # write DIR/my_lstm/, every function a stub
    python -m lstm_lib.course grade DIR     # check each function against lstm_lib

In Python: :func:`start` (or :func:`write_package`), :func:`grade` and
:func:`format_table`, and :func:`use_student_package`, which later chapters call to
run on the learner's functions wherever they pass. The ``check_*`` functions of
:mod:`~lstm_lib.course.variants` grade the exercises in which the learner derives a variant
(peepholes, the backward pass through time, variational dropout, nucleus sampling).
"""

from .check import check, stub
from .choose import CoursePackage, use_student_package
from .exercises import EXERCISES, PACKAGE, Exercise
from .grader import FAIL, NOT_STARTED, PASS, Result, format_table, grade
from .package import package_files, render, write_package
from .variants import check_bptt_backward, check_peephole_step, check_top_p, check_variational_dropout

start = write_package

__all__ = [
    "EXERCISES",
    "FAIL",
    "NOT_STARTED",
    "PACKAGE",
    "PASS",
    "CoursePackage",
    "Exercise",
    "Result",
    "check",
    "check_bptt_backward",
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
