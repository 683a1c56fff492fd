"""Comparing a learner's values with the reference, and naming a known mistake when one fits."""

import torch


class Mismatch(AssertionError):
    """The learner's code runs but gives a wrong answer; the message says which and where."""


def close(actual, expected, atol=1e-8, rtol=1e-6) -> bool:
    """Same shape and values (tensors, compared in float64) or numbers within tolerance."""
    if isinstance(expected, torch.Tensor):
        if not isinstance(actual, torch.Tensor) or actual.shape != expected.shape:
            return False
        a, e = actual.detach().double(), expected.detach().double()
        return bool(
            torch.equal(a.isnan(), e.isnan()) and torch.allclose(a, e, atol=atol, rtol=rtol, equal_nan=True)
        )
    try:
        return abs(float(actual) - float(expected)) <= atol + rtol * abs(float(expected))
    except (TypeError, ValueError):
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


def expect_tensor(name: str, value, shape: tuple) -> None:
    """Raise Mismatch unless ``value`` is a tensor of ``shape``."""
    if not isinstance(value, torch.Tensor):
        raise Mismatch(f"{name} should be a tensor of shape {shape}, got {type(value).__name__}")
    if tuple(value.shape) != tuple(shape):
        raise Mismatch(f"{name} should have shape {tuple(shape)}, got {tuple(value.shape)}")


def expect_close(name: str, actual, expected, mistakes=(), equation: str = "", **tolerance) -> None:
    """Raise Mismatch unless ``actual`` matches ``expected``.

    Args:
        mistakes: ``(message, value)`` pairs, each the value a known mistake gives;
            the first that matches ``actual`` becomes the message.
        equation: what ``name`` should be, quoted when no known mistake fits.
    """
    if close(actual, expected, **tolerance):
        return
    if isinstance(expected, torch.Tensor):
        expect_tensor(name, actual, tuple(expected.shape))
    for message, value in mistakes:
        if value is not None and close(actual, value, **tolerance):
            raise Mismatch(message)
    should = f", should be {equation}" if equation else ""
    raise Mismatch(f"{name}: wrong values{should} ({difference(actual, expected)})")
