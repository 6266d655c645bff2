"""Argument types shared by the ``symcheck`` subcommands.

Each is an ``argparse`` ``type=`` callable that turns a bad value into
:class:`argparse.ArgumentTypeError`, which the parser of :mod:`symcheck.cli`
reports as one line with exit code 2.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from symcheck.limits import LIMITS

__all__ = ["finite_float", "int_in", "seed"]


def int_in(low: int, high: int) -> Callable[[str], int]:
    """A type accepting an int in ``[low, high]``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low:
            kind = {0: "a non-negative integer", 1: "a positive integer"}
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {kind.get(low, f'an integer >= {low}')}"
            )
        if value > high:
            raise argparse.ArgumentTypeError(f"{value} exceeds the limit of {high}")
        return value

    parse.__name__ = "integer"
    return parse


def seed(text: str) -> int:
    """A random seed: an int in ``[0, LIMITS.seed]`` (NumPy refuses negative seeds)."""
    return int_in(0, LIMITS.seed)(text)


def finite_float(*, positive: bool = False) -> Callable[[str], float]:
    """A type accepting a finite float (``> 0`` with ``positive``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value) or (positive and value <= 0):
            raise argparse.ArgumentTypeError(
                f"{text!r} must be a finite number{' > 0' if positive else ''}"
            )
        return value

    parse.__name__ = "number"
    return parse
