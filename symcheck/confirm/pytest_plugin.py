"""The symcheck pytest plugin (entry point ``pytest11``, named ``symcheck.pytest_plugin``).

Loaded automatically once symcheck is installed (or with ``-p
symcheck.pytest_plugin``). It provides

* fixtures: ``symcheck_rng`` (a NumPy ``Generator`` seeded from the test's
  node id: reproducible per test), ``symcheck_torch_generator`` (the same
  for torch; the test is skipped without torch), ``symcheck_tolerance``
  (:func:`symcheck.confirm.testing.gradient_tolerance`) and ``symcheck`` (the
  :mod:`symcheck.confirm.testing` helpers: ``symcheck.assert_gradients_match`` ...);
* the Hypothesis profiles ``symcheck-ci`` (derandomised, no deadline, no
  example database, 100 examples) and ``symcheck-thorough`` (2000 examples),
  chosen with ``--hypothesis-profile symcheck-ci``.

torch is never imported when the plugin loads. Guide: ``docs/torch.md``.
"""

from __future__ import annotations

import hashlib
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from symcheck.confirm import testing

__all__ = ["PROFILES", "node_seed"]

#: Hypothesis profiles registered by the plugin (name -> settings keywords).
PROFILES: dict[str, dict[str, Any]] = {
    "symcheck-ci": {
        "max_examples": 100,
        "derandomize": True,
        "deadline": None,
        "database": None,
        "print_blob": True,
        "suppress_health_check": [HealthCheck.too_slow],
    },
    "symcheck-thorough": {"max_examples": 2000, "deadline": None},
}

for _name, _keywords in PROFILES.items():
    settings.register_profile(_name, **_keywords)


def node_seed(nodeid: str) -> int:
    """A 32-bit seed from a test's node id (stable across runs, machines and Python hash seeds)."""
    return int.from_bytes(hashlib.sha256(nodeid.encode()).digest()[:4], "little")


@pytest.fixture
def symcheck_rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """A NumPy Generator seeded from this test's node id (same numbers on every run)."""
    return np.random.default_rng(node_seed(request.node.nodeid))


@pytest.fixture
def symcheck_torch_generator(request: pytest.FixtureRequest) -> Any:
    """A ``torch.Generator`` seeded from this test's node id (skips the test without torch)."""
    torch = pytest.importorskip("torch")
    return torch.Generator().manual_seed(node_seed(request.node.nodeid))


@pytest.fixture
def symcheck_tolerance() -> Any:
    """:func:`symcheck.confirm.testing.gradient_tolerance`: ``tol(dtype, ops=..., length=...)``."""
    return testing.gradient_tolerance


@pytest.fixture
def symcheck() -> ModuleType:
    """The assertion helpers of :mod:`symcheck.confirm.testing`.

    ``symcheck.assert_ties_preserved(...)`` and the others.
    """
    return testing
