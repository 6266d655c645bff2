"""A command line imports only the module of its subcommand: ``symcheck audit`` is fast.

``symcheck.cli.command._COMMANDS`` names the module of every subcommand; the
parser built for one command must be the full parser's for that command.
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import save_file

from symcheck.cli import build_parser
from symcheck.cli.command import _COMMAND_MODULES, _COMMANDS, _Parser


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


@pytest.mark.parametrize("module", _COMMAND_MODULES)
def test_the_table_names_what_each_module_registers(module):
    parser = _Parser(prog="symcheck")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    importlib.import_module(module).register(sub)
    assert set(sub.choices) == {c for c, m in _COMMANDS.items() if m == module}


def test_the_full_parser_has_exactly_the_commands_of_the_table():
    assert list(_subparsers(build_parser())) == list(_COMMANDS)
    assert list(_subparsers(build_parser("no-such-command"))) == list(_COMMANDS)


@pytest.mark.parametrize("command", list(_COMMANDS))
def test_a_command_line_parser_is_the_full_parsers_for_its_command(command):
    full = _subparsers(build_parser())[command].format_help()
    assert _subparsers(build_parser(command))[command].format_help() == full


def test_symcheck_audit_loads_neither_sympy_nor_scipy(tmp_path):
    path = tmp_path / "tiny.safetensors"
    save_file({"fc1.weight": np.zeros((4, 3), np.float32)}, str(path))
    code = (
        "import sys\n"
        "from symcheck.cli import main\n"
        f"code = main(['audit', {str(path)!r}])\n"
        "print(code, sorted(m for m in ('sympy', 'scipy', 'torch') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout.splitlines()
    assert out[-1] == "1 []"  # exit 1: identical units observed; nothing heavy imported
