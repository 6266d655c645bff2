"""The ``symcheck`` command line (console script ``symcheck.cli:main``).

:mod:`~symcheck.cli.command` builds the parser and runs a command (exit
codes, ``--timeout``, one-line errors); each other module of this package
contributes the subcommands of one area through ``register(subparsers)``;
:mod:`~symcheck.cli.args` holds the shared argument types and
:mod:`~symcheck.cli.contract` the bad-input contract as a checker. This
package offers the names of :mod:`symcheck.cli.command`.
"""

from __future__ import annotations

from symcheck.cli.command import (
    DEFAULT_TIMEOUT,
    EXIT_BAD_USAGE,
    EXIT_BROKEN_PIPE,
    EXIT_OK,
    EXIT_REFUTED,
    OutOfTime,
    build_parser,
    main,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "EXIT_BAD_USAGE",
    "EXIT_BROKEN_PIPE",
    "EXIT_OK",
    "EXIT_REFUTED",
    "OutOfTime",
    "build_parser",
    "main",
]
