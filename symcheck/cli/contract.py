"""The bad-input contract of the ``symcheck`` command, as a checker.

Every run of :func:`symcheck.cli.main` must end with an exit code in
``{0, 1, 2}``, print no traceback, write at most one line on stderr when it
fails, keep every error line within ``LIMITS.message_chars`` characters,
name only options that the command has, and finish within a time and memory
budget. :func:`run_guarded` runs ``main`` in-process under a watchdog (a
thread that interrupts the main thread) and an address-space limit
(``RLIMIT_AS``, raised back afterwards), and :func:`violations` lists what a
run broke. The tests (``tests/test_cli_contract.py``,
``properties/test_cli_fuzz.py``) assert that the list is empty.
"""

from __future__ import annotations

import _thread
import argparse
import contextlib
import io
import re
import resource
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from symcheck.limits import LIMITS

__all__ = ["Run", "TooSlow", "option_names", "run_guarded", "time_guard", "violations"]

_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


@dataclass(frozen=True)
class Run:
    """What one guarded run did."""

    argv: tuple[str, ...]
    code: object
    stdout: str
    stderr: str
    seconds: float
    error: BaseException | None = None
    timed_out: bool = False


class TooSlow(BaseException):
    """Raised by :func:`time_guard` when the guarded block ran out of time."""


@contextlib.contextmanager
def time_guard(seconds: float) -> Iterator[None]:
    """Raise :class:`TooSlow` in the main thread when the block runs over ``seconds``.

    A watchdog thread interrupts the main thread (``_thread.interrupt_main``),
    so the guard works even while SIGALRM belongs to the code under test; a
    block that catches the interrupt itself (``main`` turns it into exit code
    130) still ends in :class:`TooSlow`.
    """
    fired = threading.Event()

    def expire() -> None:
        fired.set()
        _thread.interrupt_main()

    timer = threading.Timer(seconds, expire)
    timer.start()
    try:
        yield
    except KeyboardInterrupt:
        if not fired.is_set():
            raise
    finally:
        timer.cancel()
    if fired.is_set():
        raise TooSlow(f"no answer within {seconds:g} s")


@contextlib.contextmanager
def _address_space(extra_bytes: int | None) -> Iterator[None]:
    """Cap the address space at its current size plus ``extra_bytes`` (None: no cap)."""
    if extra_bytes is None:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as fh:
        used = int(fh.read().split()[0]) * resource.getpagesize()
    cap = used + extra_bytes if hard == resource.RLIM_INFINITY else min(hard, used + extra_bytes)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def run_guarded(
    argv: Sequence[str],
    *,
    main: Callable[[Sequence[str]], int] | None = None,
    seconds: float = 30.0,
    extra_bytes: int | None = 2 << 30,
) -> Run:
    """Run ``main(argv)`` in-process, capturing its output, under a time and memory guard.

    After ``seconds`` :func:`time_guard` stops the run (``timed_out``);
    ``extra_bytes`` caps the address space above its current size, so an
    unbounded allocation fails with MemoryError instead of exhausting the
    machine. Exceptions that escape ``main`` are recorded, not raised.
    """
    if main is None:
        from symcheck.cli.command import main as cli_main

        main = cli_main
    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    code: object = None
    error: BaseException | None = None
    slow = False
    try:
        with (
            time_guard(seconds),
            _address_space(extra_bytes),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            try:
                code = main(list(argv))
            except SystemExit as exc:
                code = exc.code
    except TooSlow:
        slow = True
    except BaseException as exc:  # recorded as a violation, whatever it is
        error = exc
    seconds_taken = time.perf_counter() - start
    return Run(tuple(argv), code, out.getvalue(), err.getvalue(), seconds_taken, error, slow)


def option_names(parser: argparse.ArgumentParser, argv: Sequence[str]) -> set[str]:
    """The ``--options`` of the parser that ``argv`` selects and of its parents."""
    names: set[str] = set()
    current: argparse.ArgumentParser | None = parser
    words = [w for w in argv if not w.startswith("-")]
    while current is not None:
        names |= {s for a in current._actions for s in a.option_strings if s.startswith("--")}
        subs = [a for a in current._actions if isinstance(a, argparse._SubParsersAction)]
        current = None
        for action in subs:
            for word in words:
                if word in action.choices:
                    current = action.choices[word]
                    break
    return names


def violations(run: Run, *, options: set[str] | None = None) -> list[str]:
    """Every way ``run`` broke the contract (empty when it kept it)."""
    found = []
    if run.error is not None:
        found.append(f"raised {type(run.error).__name__}: {str(run.error)[:200]}")
    if run.timed_out:
        found.append(f"did not finish within the time guard ({run.seconds:.1f} s)")
    if run.code not in (0, 1, 2):
        found.append(f"exit code {run.code!r} is not 0, 1 or 2")
    if "Traceback" in run.stderr:
        found.append("a traceback on stderr")
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    if run.code not in (0, None) and len(lines) > 1:
        found.append(f"{len(lines)} lines on stderr for an error, expected at most 1")
    if run.code == 2 and not lines:
        found.append("exit code 2 without a message")
    cap = LIMITS.message_chars
    found += [f"a stderr line of {len(ln)} characters" for ln in lines if len(ln) > cap]
    if options is not None:
        given = {name for word in run.argv for name in _OPTION.findall(word)}  # echoed input
        for line in lines:
            for name in _OPTION.findall(line):
                if name not in options and name not in given:
                    found.append(f"the message names {name}, which the command does not have")
    return found
