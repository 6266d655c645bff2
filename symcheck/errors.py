"""The exception hierarchy of symcheck.

Every error symcheck raises on purpose derives from :class:`SymcheckError`, so a
caller can catch the whole family at once. Validation errors also derive from
:class:`ValueError`, which keeps ``except ValueError`` working for users who do
not know symcheck's own classes.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["InvalidArgument", "SymcheckError", "UnsafeFile", "choices_message"]


class SymcheckError(Exception):
    """Base class of every error that symcheck raises deliberately."""


class InvalidArgument(SymcheckError, ValueError):
    """A value given to symcheck is not valid; the message says which and why."""


class UnsafeFile(SymcheckError, ValueError):
    """A weight file is malformed, too large or would need unsafe loading."""


def choices_message(what: str, value: object, choices: Iterable[str], fix: str = "") -> str:
    """Format the standard message for a value outside a set of choices.

    >>> choices_message("activation", "tanhh", ["identity", "tanh"])
    "activation='tanhh' is not supported; use one of ['identity', 'tanh']"
    """
    message = f"{what}={value!r} is not supported; use one of {sorted(choices)!r}"
    return f"{message}; {fix}" if fix else message
