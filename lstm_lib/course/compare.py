"""The one kit for checking a learner's answer, and its one error type, :class:`ExerciseError`.

- Inputs: :data:`DTYPE` and :func:`randn`, the seeded float64 tensors every check runs on.
- Comparisons: :func:`close`, :func:`difference` and :func:`dropout_scale` (is one tensor the
  other after dropout?); :func:`expect_close`, :func:`expect_tensor`, :func:`expect_pair` and
  :func:`expect_differentiable` raise :class:`ExerciseError` saying what is off, for the grader
  of ``my_lstm`` (:mod:`lstm_lib.course.grading`) and the checks of the exercises that extend
  the library (:mod:`lstm_lib.course.extensions`).
- Known mistakes: :func:`mistaken` is a library function with the wrong line a learner writes,
  whose result the diagnosis compares with the learner's (:func:`known_mistake`).
- The book's check cells: :func:`check_close` and :func:`check_function` print one line starting
  with ``✓`` when the answer is right and raise :class:`ExerciseError` when it is not.
"""

import functools
import inspect
import math
import textwrap

import torch

DTYPE = torch.float64
"""Checks run in float64: a right answer then matches the reference to ~1e-12."""

NOT_DIFFERENTIABLE = (
    "gradients through {what} do not match finite differences: is something detached, "
    "changed in place or computed outside autograd?"
)


class ExerciseError(AssertionError):
    """The learner's answer is wrong (or missing); the message says what differs and where to look."""

    def _render_traceback_(self) -> list[str]:
        """What IPython shows for this error in a notebook: the diagnosis, in a few short lines,
        instead of a traceback through the grader (IPython calls ``_render_traceback_`` on
        exceptions that define it)."""
        lines = []
        for paragraph in str(self).splitlines() or [""]:
            wrapped = textwrap.wrap(paragraph, RENDER_WIDTH, break_long_words=False, break_on_hyphens=False)
            lines += wrapped or [""]
        return [f"{type(self).__name__}: {lines[0]}", *(f"    {line}" for line in lines[1:])]


RENDER_WIDTH = 100
"""The width of the lines of :meth:`ExerciseError._render_traceback_`."""


def randn(generator, *shape, scale=1.0):
    """A float64 ``torch.randn`` of ``shape`` from ``generator``, times ``scale``."""
    return torch.randn(*shape, generator=generator, dtype=DTYPE) * scale


# ---------------------------------------------------------------------------- comparisons


def close(actual, expected, atol=1e-8, rtol=1e-6) -> bool:
    """Same shape and values (tensors, compared in float64, NaN where the other has NaN) or
    numbers within ``atol + rtol * |expected|``; other values must be equal."""
    if isinstance(expected, torch.Tensor):
        if not isinstance(actual, torch.Tensor) or actual.shape != expected.shape:
            return False
        a, e = actual.detach().double(), expected.detach().double()
        return bool(
            torch.equal(a.isnan(), e.isnan()) and torch.allclose(a, e, atol=atol, rtol=rtol, equal_nan=True)
        )
    try:
        return abs(float(actual) - float(expected)) <= atol + rtol * abs(float(expected))
    except (TypeError, ValueError, RuntimeError):  # not numbers
        pass
    try:
        return bool(actual == expected)
    except Exception:  # a comparison that does not give one truth value
        return False


def difference(actual, expected) -> str:
    """Where and by how much two same-shaped tensors (or numbers) differ."""
    if isinstance(expected, torch.Tensor):
        a, e = actual.detach().double(), expected.detach().double()
        diff = (a - e).abs().nan_to_num(nan=float("inf"))
        where = tuple(int(i) for i in torch.unravel_index(diff.argmax(), diff.shape))
        return (
            f"largest difference {diff.max().item():.3g} at index {where}: "
            f"got {a[where].item():.6g}, expected {e[where].item():.6g}"
        )
    return f"got {float(actual):.6g}, expected {float(expected):.6g}"


def dropout_scale(after, before, atol=1e-8, rtol=1e-6) -> float | None:
    """How ``after`` was made from ``before``, two tensors: None when they are equal; the scale
    ``s`` when ``after`` is ``before`` with some elements zeroed and every other one multiplied
    by ``s`` (dropout of probability p keeps elements scaled by s = 1/(1-p)); NaN otherwise."""
    if close(after, before, atol=atol, rtol=rtol):
        return None
    if not isinstance(after, torch.Tensor) or after.shape != before.shape:
        return math.nan
    a, b = after.detach().double(), before.detach().double()
    zero = a.abs() <= atol
    kept = ~zero & (b.abs() > atol)
    if not bool(zero.any()) or not bool(kept.any()) or bool((~zero & ~kept).any()):
        return math.nan
    ratios = a[kept] / b[kept]
    scale = ratios.median().item()
    return scale if bool(torch.allclose(ratios, torch.full_like(ratios, scale), rtol=1e-5)) else math.nan


def known_mistake(actual, mistakes, **tolerance) -> str | None:
    """The message of the first ``(message, value)`` of ``mistakes`` whose value ``actual``
    matches (a None value never does), or None."""
    for message, value in mistakes:
        if value is not None and close(actual, value, **tolerance):
            return message
    return None


def expect_tensor(name: str, value, shape: tuple) -> None:
    """Raise ExerciseError unless ``value`` is a tensor of ``shape``."""
    if not isinstance(value, torch.Tensor):
        raise ExerciseError(f"{name} should be a tensor of shape {shape}, got {type(value).__name__}")
    if tuple(value.shape) != tuple(shape):
        raise ExerciseError(f"{name} should have shape {tuple(shape)}, got {tuple(value.shape)}")


def expect_tensors(name: str, value, names: tuple[str, ...], shapes: tuple[tuple, ...]) -> tuple:
    """``value``, what ``name`` returned, as a tuple of tensors ``names`` of ``shapes``;
    ExerciseError naming what is off otherwise."""
    items = value if isinstance(value, (tuple, list)) else (value,)
    if len(items) != len(names):
        raise ExerciseError(
            f"{name} should return {len(names)} values ({', '.join(names)}), got {len(items)}"
        )
    for item, what, shape in zip(items, names, shapes):
        if not isinstance(item, torch.Tensor):
            raise ExerciseError(f"{name}: {what} should be a tensor, got {type(item).__name__}")
        expect_tensor(f"{name}: {what}", item, shape)
    return tuple(items)


def expect_pair(value, what: str):
    """``value`` if it is a pair (a tuple or list of two); ExerciseError otherwise."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ExerciseError(f"{what} should be a pair, got {type(value).__name__}")
    return value


def expect_close(name: str, actual, expected, mistakes=(), equation: str = "", **tolerance) -> None:
    """Raise ExerciseError unless ``actual`` matches ``expected``.

    Args:
        mistakes: ``(message, value)`` pairs, each the value a known mistake gives;
            the first that matches ``actual`` becomes the message.
        equation: what ``name`` should be, quoted when no known mistake fits.
    """
    if close(actual, expected, **tolerance):
        return
    message = known_mistake(actual, mistakes, **tolerance)  # a mistake may change the shape too
    if message:
        raise ExerciseError(message)
    if isinstance(expected, torch.Tensor):
        expect_tensor(name, actual, tuple(expected.shape))
    should = f", should be {equation}" if equation else ""
    raise ExerciseError(f"{name}: wrong values{should} ({difference(actual, expected)})")


def diagnose(check: str, what: str, actual, expected, mistakes, equation: str) -> None:
    """:func:`expect_close` as the check cells of :mod:`~lstm_lib.course.extensions` word it:
    every message starts with the name of the function checked, ``check``."""
    if close(actual, expected):
        return
    message = known_mistake(actual, mistakes)
    if message is None:
        message = f"{what} is wrong, it should be {equation} ({difference(actual, expected)})"
    raise ExerciseError(f"{check}: {message}")


def expect_differentiable(fn, inputs, what: str) -> None:
    """Raise ExerciseError unless autograd's gradients of ``fn`` at ``inputs`` (float64 tensors)
    match finite differences."""
    inputs = tuple(x.detach().clone().requires_grad_() for x in inputs)
    if not torch.autograd.gradcheck(fn, inputs, raise_exception=False):
        raise ExerciseError(NOT_DIFFERENTIABLE.format(what=what))


def call(name: str, candidate, *args):
    """``candidate(*args)``; ExerciseError saying so when it is still a stub."""
    try:
        return candidate(*args)
    except NotImplementedError:
        raise ExerciseError(
            f"{name}: not implemented yet; replace the `raise NotImplementedError`."
        ) from None


# ---------------------------------------------------------------------------- known mistakes


@functools.cache
def mistaken(function, *edits: tuple[str, str]):
    """``function``, a library function or method, with a known mistake made in its source.

    Args:
        function: e.g. :func:`lstm_lib.cell.lstm_step`; a decorated function keeps its decorators.
        edits: ``(old, new)`` pairs; each ``old`` must stand exactly once in the source, and all
            are replaced at once (so two edits can swap two lines).

    Returns:
        The edited function, compiled in ``function``'s own module: it sees the same names.
    """
    function = inspect.unwrap(function)
    source = textwrap.dedent(inspect.getsource(function))
    where = f"{function.__module__}.{function.__qualname__}"
    spans = []
    for old, new in edits:
        if source.count(old) != 1:
            raise ValueError(f"{old!r} stands {source.count(old)} times in {where}, not once")
        spans.append((source.index(old), old, new))
    spans.sort()
    pieces, end = [], 0
    for start, old, new in spans:
        if start < end:
            raise ValueError(f"the edits of {where} overlap")
        pieces += [source[end:start], new]
        end = start + len(old)
    namespace = {}
    code = compile("".join(pieces) + source[end:], f"<{where} with a mistake>", "exec")
    exec(code, function.__globals__, namespace)  # the def binds in namespace, not in the module
    return namespace[function.__name__]


# ---------------------------------------------------------------------------- the book's check cells


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    return f"{type(value).__name__} {value!r}"


def _expect_answer(name, actual, expected, atol, rtol, hint) -> None:
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
        if not close(actual, expected, atol=atol, rtol=rtol):
            raise ExerciseError(f"{name}: values differ ({difference(actual, expected)}).{suffix}")
    elif not close(actual, expected, atol=atol, rtol=rtol):
        raise ExerciseError(f"{name}: expected {expected!r}, got {actual!r}.{suffix}")


def check_close(name: str, actual, expected, atol: float = 1e-5, rtol: float = 1e-4, hint: str = "") -> None:
    """Check a tensor or number against the reference value, and print ``✓ name is correct``.

    Args:
        name: what is being checked, as the learner would call it (``"F_t"``).
        actual: the learner's value.
        expected: the reference value.
        hint: added to the failure message: where a mistake usually hides.
    """
    _expect_answer(name, actual, expected, atol, rtol, hint)
    print(f"✓ {name} is correct")


def check_function(name: str, candidate, reference, cases, atol: float = 1e-5, hint: str = "") -> None:
    """Call ``candidate`` and ``reference`` on every argument tuple in ``cases``
    and compare the results (tensors, numbers, or tuples of them)."""
    for k, args in enumerate(cases):
        got = call(name, candidate, *args)
        want = reference(*args)
        got_items = got if isinstance(got, tuple) else (got,)
        want_items = want if isinstance(want, tuple) else (want,)
        if len(got_items) != len(want_items):
            raise ExerciseError(f"{name}: expected {len(want_items)} return values, got {len(got_items)}.")
        for j, (g, w) in enumerate(zip(got_items, want_items)):
            label = f"{name} (test case {k + 1}" + (
                f", return value {j + 1})" if len(want_items) > 1 else ")"
            )
            _expect_answer(label, g, w, atol, 1e-4, hint)
    print(f"✓ {name} passes all {len(cases)} test cases")
