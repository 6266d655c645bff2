"""The ``symcheck`` command.

Each area of the library contributes its subcommands from a module of its own
(``symcheck/cli/*.py``) with a ``register(subparsers)`` function that adds its
parsers and sets ``func`` on them; ``func(args)`` returns the exit code.

Exit codes: 0 proved or success, 1 refuted (or a CI gate failed), 2 unknown or
bad usage (also a full disk or a ``--timeout`` that ran out, which answers
``unknown``), 141 when the reader of stdout went away (``| head``; 128 + SIGPIPE,
as the shell reports for other commands). Bad input gets one line on stderr,
never a traceback; error lines are capped at ``LIMITS.message_chars``
characters (:mod:`symcheck.limits`), the middle elided.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from types import FrameType

from symcheck.errors import SymcheckError
from symcheck.limits import elide

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

EXIT_OK = 0
EXIT_REFUTED = 1
EXIT_BAD_USAGE = 2
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE
#: Seconds a command may run before it answers ``unknown`` (``--timeout``).
DEFAULT_TIMEOUT = 120.0

#: errno values of a write that failed because the output medium is full.
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})

#: Every subcommand and the module that registers it; ``--help`` lists the
#: modules in this order. A command line naming one of them imports only its
#: module (``symcheck audit`` does not load SymPy); a test checks the table
#: against what each module registers.
_COMMANDS: dict[str, str] = {
    "prove": "symcheck.cli.proofs",
    "derive": "symcheck.cli.proofs",
    "example": "symcheck.cli.proofs",
    "check": "symcheck.cli.proofs",
    "plot": "symcheck.cli.numeric",
    "scale": "symcheck.cli.scale",
    "derive-init": "symcheck.cli.scale",
    "audit": "symcheck.cli.audit",
    "diff": "symcheck.cli.diff",
    "lumping": "symcheck.cli.lumping",
    "symmetries": "symcheck.cli.graph",
    "prove-graph": "symcheck.cli.graph_proofs",
    "ties": "symcheck.cli.graph_proofs",
    "torch-survival": "symcheck.cli.torch",
}
# Modules that contribute subcommands, in the order --help lists them.
_COMMAND_MODULES: tuple[str, ...] = tuple(dict.fromkeys(_COMMANDS.values()))


class OutOfTime(BaseException):
    """The command ran longer than its ``--timeout``: the answer is unknown.

    A ``BaseException`` (like ``KeyboardInterrupt``), so that no ``except
    Exception`` in the library or in SymPy can swallow it.
    """


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        line = elide(f"{self.prog}: error: {message} (see '{self.prog} --help')")
        self.exit(EXIT_BAD_USAGE, line + "\n")


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value < 1e9:
        raise argparse.ArgumentTypeError(f"{text!r} must be seconds in [0, 1e9); 0 means none")
    return value


def _leaves(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """The parsers that run a command (those without subcommands of their own)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield parser
    for action in subs:
        for child in dict.fromkeys(action.choices.values()):
            yield from _leaves(child)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand.

    With ``command`` (a subcommand's name), only the module registering it is
    imported, and the parser knows only that module's subcommands. Every
    command also takes ``--timeout SECONDS`` (default :data:`DEFAULT_TIMEOUT`,
    0 for none).
    """
    parser = _Parser(
        prog="symcheck",
        description="Prove, confirm and measure symmetry breaking in network initialisation.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    modules = (_COMMANDS[command],) if command in _COMMANDS else _COMMAND_MODULES
    for name in modules:
        importlib.import_module(name).register(sub)
    for leaf in _leaves(parser):
        if leaf is not parser:
            leaf.add_argument(
                "--timeout",
                type=_timeout,
                default=DEFAULT_TIMEOUT,
                metavar="SECONDS",
                help=f"answer 'unknown' (exit 2) after SECONDS (default {DEFAULT_TIMEOUT:g}; "
                "0 for no limit)",
            )
    return parser


@contextlib.contextmanager
def _deadline(seconds: float, command: str) -> Iterator[None]:
    """Raise :class:`OutOfTime` in the main thread after ``seconds`` (0: no deadline)."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise OutOfTime(
            f"unknown: '{command}' did not finish within --timeout {seconds:g} s; the answer "
            "is unknown; raise --timeout or give a smaller problem"
        )

    try:
        previous = signal.signal(signal.SIGALRM, expire) if seconds else None
    except ValueError:  # not the main thread: no deadline
        previous = None
    if previous is None:
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _discard_stdout() -> None:
    """Point stdout at the null device so the exit-time flush cannot fail again."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (AttributeError, OSError, ValueError):  # not a real file (e.g. captured)
        pass


def _say(line: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        print(elide(line), file=sys.stderr)


def _run(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        prog = f"symcheck {args.command}" if getattr(args, "command", None) else "symcheck"
        _say(f"{prog}: error: no command given; usage: {prog} COMMAND ... (see '{prog} --help')")
        return EXIT_BAD_USAGE
    try:
        with _deadline(args.timeout, args.command):
            code = int(args.func(args))
        sys.stdout.flush()
        return code
    except SymcheckError as exc:
        _say(f"symcheck: error: {exc}")
        return EXIT_BAD_USAGE
    except OutOfTime as exc:
        _say(f"symcheck: {exc}")
        return EXIT_BAD_USAGE
    except (RecursionError, MemoryError) as exc:
        # SymPy recursion on deeply nested expressions, or an allocation that the
        # limits did not foresee: the answer is unknown, never a traceback.
        what = "expressions nested too deeply" if isinstance(exc, RecursionError) else "memory"
        _say(
            f"symcheck: unknown: '{args.command}' ran out of {what}; the answer is unknown; "
            "give a smaller problem"
        )
        return EXIT_BAD_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code.

    A closed stdout (``| head``) ends quietly with :data:`EXIT_BROKEN_PIPE`
    after pointing stdout at the null device, as the CPython documentation
    on SIGPIPE recommends; a full disk is one line and exit code 2.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        return _run(build_parser(argv[0] if argv else None), argv)
    except BrokenPipeError:
        _discard_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as exc:
        if exc.errno not in _FULL:
            raise
        _discard_stdout()
        _say(f"symcheck: error: cannot write the output: {exc.strerror}")
        return EXIT_BAD_USAGE
    except KeyboardInterrupt:
        _say("symcheck: interrupted")
        return 130
