"""What an installed symcheck gives a user (issue 11, "Done when").

* after ``pip install -e .`` the pytest plugin is found through its
  ``pytest11`` entry point: ``pytest --fixtures`` in an empty project (no
  ``-p`` flag, no conftest) lists the symcheck fixtures (skipped where the
  package is not installed, e.g. a bare checkout; CI installs it);
* torch stays optional: the symbolic path runs with ``import torch`` made to
  fail and imports no torch module, and the torch command says in one line
  how to install the extra.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.skipif(
    not any(e.name == "symcheck.pytest_plugin" for e in entry_points(group="pytest11")),
    reason="symcheck is not installed here (pip install -e . registers the pytest11 entry point)",
)
def test_pytest_fixtures_in_an_empty_project_lists_the_symcheck_fixtures(tmp_path):
    run = _run(
        "import pytest, sys; sys.exit(pytest.main(['--fixtures', '-p', 'no:cacheprovider']))",
        tmp_path,
    )
    assert run.returncode in (0, 5), run.stdout + run.stderr  # 5: no tests collected
    assert "fixtures defined from symcheck." in run.stdout, run.stdout  # the plugin's module
    for fixture in ("symcheck_rng", "symcheck_torch_generator", "symcheck_tolerance", "symcheck "):
        assert f"\n{fixture}" in run.stdout, run.stdout


def test_the_symbolic_path_needs_no_torch(tmp_path):
    script = (
        "import sys; sys.modules['torch'] = None\n"  # import torch now raises ImportError
        "from symcheck.cli import main\n"
        "code = main(['prove', '2-2-1', '--activation', 'tanh', '--init', 'tied'])\n"
        "assert not [m for m in sys.modules if m.startswith('torch') and sys.modules[m]]\n"
        "sys.exit(code)\n"
    )
    run = _run(script, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "identical_updates: PROVED" in run.stdout


def test_the_torch_command_without_torch_says_how_to_install_it(tmp_path):
    script = (
        "import sys; sys.modules['torch'] = None\n"
        "from symcheck.cli import main\n"
        "sys.exit(main(['torch-survival', 'models:make']))\n"
    )
    run = _run(script, tmp_path)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and "pip install 'symcheck[torch]'" in run.stderr
