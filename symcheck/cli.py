"""The ``symcheck`` command.

Each area of the library contributes its subcommands from a module of its own
(``symcheck/cli_*.py``) with a ``register(subparsers)`` function that adds its
parsers and sets ``func`` on them; ``func(args)`` returns the exit code.

Exit codes: 0 proved or success, 1 refuted (or a CI gate failed), 2 unknown or
bad usage. Bad input gets one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from symcheck.errors import SymcheckError

__all__ = ["EXIT_BAD_USAGE", "EXIT_OK", "EXIT_REFUTED", "build_parser", "main"]

EXIT_OK = 0
EXIT_REFUTED = 1
EXIT_BAD_USAGE = 2

# Modules that contribute subcommands, in the order --help lists them.
_COMMAND_MODULES: tuple[str, ...] = (
    "symcheck.cli_proofs",
    "symcheck.cli_numeric",
    "symcheck.cli_scale",
    "symcheck.cli_audit",
    "symcheck.cli_lumping",
    "symcheck.cli_graph",
    "symcheck.cli_graph_proofs",
)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every registered subcommand."""
    parser = _Parser(
        prog="symcheck",
        description="Prove, confirm and measure symmetry breaking in network initialisation.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_BAD_USAGE
    try:
        return int(args.func(args))
    except SymcheckError as exc:
        print(f"symcheck: error: {exc}", file=sys.stderr)
        return EXIT_BAD_USAGE
    except KeyboardInterrupt:
        print("symcheck: interrupted", file=sys.stderr)
        return 130
