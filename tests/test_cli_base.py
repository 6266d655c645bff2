"""The command-line dispatcher: usage errors are one line and exit code 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from symcheck.cli import main


def test_no_command_prints_help_and_exits_2(capsys) -> None:
    assert main([]) == 2
    assert "usage: symcheck" in capsys.readouterr().err


def test_unknown_command_is_one_line_on_stderr_without_traceback(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["no-such-command"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_module_entry_point_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "symcheck", "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    assert "symcheck" in done.stdout
