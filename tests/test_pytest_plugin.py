"""The pytest plugin: it loads without torch, lists its fixtures, registers its
Hypothesis profiles, and the example project under ``examples/pytest-project``
passes when run as a user would run it (a subprocess, its own rootdir)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from hypothesis import settings

from symcheck.confirm.pytest_plugin import PROFILES, node_seed
from symcheck.confirm.testing import gradient_tolerance, unit_roundoff

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "pytest-project"


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }


def test_the_example_project_passes_under_the_plugin():
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "symcheck.pytest_plugin"],
        cwd=EXAMPLE,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "5 passed" in run.stdout


def test_the_plugin_loads_and_lists_its_fixtures_without_torch(tmp_path):
    script = (
        "import sys; sys.modules['torch'] = None\n"  # import torch now raises ImportError
        "import pytest\n"
        "args = ['--fixtures', '-p', 'symcheck.pytest_plugin', '-p', 'no:cacheprovider']\n"
        "code = pytest.main(args)\n"
        "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
        "sys.exit(code)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode in (0, 5), run.stdout + run.stderr  # 5: no tests collected
    for fixture in ("symcheck_rng", "symcheck_torch_generator", "symcheck_tolerance", "symcheck "):
        assert f"\n{fixture}" in run.stdout, run.stdout


def test_the_hypothesis_profiles_are_registered():
    assert set(PROFILES) == {"symcheck-ci", "symcheck-thorough"}
    ci = settings.get_profile("symcheck-ci")
    assert ci.derandomize and ci.deadline is None and ci.database is None
    assert settings.get_profile("symcheck-thorough").max_examples == 2000


def test_symcheck_rng_is_seeded_by_the_node_id(symcheck_rng, request):
    again = np.random.default_rng(node_seed(request.node.nodeid))
    assert symcheck_rng.integers(1 << 30) == again.integers(1 << 30)
    assert node_seed("a::b") == node_seed("a::b") != node_seed("a::c")


def test_the_gradient_tolerance_grows_with_size_and_roundoff(symcheck_tolerance):
    assert unit_roundoff("float32") == 2.0**-24 and unit_roundoff("torch.float64") == 2.0**-53
    small = symcheck_tolerance("float64", ops=10, length=8)
    assert small == gradient_tolerance("float64", ops=10, length=8)
    assert small < symcheck_tolerance("float64", ops=20, length=8) < 1e-12
    assert 1e-6 < symcheck_tolerance("float32", ops=10, length=8) < 1e-3
    assert symcheck_tolerance("float16", ops=10_000, length=1000) == float("inf")
