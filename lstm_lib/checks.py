"""Checks for the book's exercises: compare a learner's answer with the reference.

Each check prints one line starting with ``✓`` when the answer is right and
raises :class:`ExerciseError`, whose message says what differs and where to
look, when it is not. Check cells in the book call these functions.
"""

import math

import torch


class ExerciseError(AssertionError):
    """The learner's answer does not match the reference."""


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    return f"{type(value).__name__} {value!r}"


def check_close(name: str, actual, expected, atol: float = 1e-5, rtol: float = 1e-4, hint: str = "") -> None:
    """Check a tensor or number against the reference value.

    Args:
        name: what is being checked, as the learner would call it (``"F_t"``).
        actual: the learner's value.
        expected: the reference value.
        hint: added to the failure message: where a mistake usually hides.
    """
    _compare(name, actual, expected, atol, rtol, hint)
    print(f"✓ {name} is correct")


def _compare(name, actual, expected, atol, rtol, hint) -> None:
    suffix = f" Hint: {hint}" if hint else ""
    if actual is None or actual is NotImplemented or actual is Ellipsis:
        raise ExerciseError(f"{name}: no answer yet (got {actual!r}); fill in the exercise cell and run it.")
    if isinstance(expected, torch.Tensor):
        if not isinstance(actual, torch.Tensor):
            raise ExerciseError(f"{name}: expected a tensor, got {_describe(actual)}.{suffix}")
        if actual.shape != expected.shape:
            raise ExerciseError(
                f"{name}: expected shape {tuple(expected.shape)}, got {tuple(actual.shape)}.{suffix}"
            )
        actual_f, expected_f = actual.detach().double(), expected.detach().double()
        if not torch.allclose(actual_f, expected_f, atol=atol, rtol=rtol):
            diff = (actual_f - expected_f).abs()
            where = tuple(int(i) for i in torch.unravel_index(diff.argmax(), diff.shape))
            raise ExerciseError(
                f"{name}: values differ (largest difference {diff.max().item():.3g} at index {where}: "
                f"got {actual_f[where].item():.6g}, expected {expected_f[where].item():.6g}).{suffix}"
            )
    else:
        try:
            ok = math.isclose(float(actual), float(expected), rel_tol=rtol, abs_tol=atol)
        except (TypeError, ValueError):
            ok = actual == expected
        if not ok:
            raise ExerciseError(f"{name}: expected {expected!r}, got {actual!r}.{suffix}")


def check_function(name: str, candidate, reference, cases, atol: float = 1e-5, hint: str = "") -> None:
    """Call ``candidate`` and ``reference`` on every argument tuple in ``cases``
    and compare the results (tensors, numbers, or tuples of them)."""
    for k, args in enumerate(cases):
        try:
            got = candidate(*args)
        except NotImplementedError:
            raise ExerciseError(
                f"{name}: not implemented yet; replace the `raise NotImplementedError`."
            ) from None
        want = reference(*args)
        got_items = got if isinstance(got, tuple) else (got,)
        want_items = want if isinstance(want, tuple) else (want,)
        if len(got_items) != len(want_items):
            raise ExerciseError(f"{name}: expected {len(want_items)} return values, got {len(got_items)}.")
        for j, (g, w) in enumerate(zip(got_items, want_items)):
            label = f"{name} (test case {k + 1}" + (
                f", return value {j + 1})" if len(want_items) > 1 else ")"
            )
            _compare(label, g, w, atol, 1e-4, hint)
    print(f"✓ {name} passes all {len(cases)} test cases")
