"""The package's public names are imported on first use, and stay what they were."""

from __future__ import annotations

import subprocess
import sys

import pytest

import symcheck


def _fresh(code: str) -> str:
    """Run ``code`` in a new interpreter (a clean ``sys.modules``), return its output."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout.strip()


def test_the_checkpoint_audit_does_not_import_sympy():
    code = "import sys, symcheck.checkpoint; print('sympy' in sys.modules)"
    assert _fresh(code) == "False"
    assert (
        _fresh("import sys; from symcheck import derive; print('sympy' in sys.modules)") == "True"
    )


@pytest.mark.parametrize("name", ["train", "derive"])
def test_a_function_named_like_its_submodule_stays_the_function(name):
    got = f"symcheck.{name}"
    code = f"import {got}, symcheck; print(callable({got}), type({got}).__name__)"
    assert _fresh(code) == "True function"
    code = f"import symcheck; from symcheck import {name}; import {got}; print({got} is {name})"
    assert _fresh(code) == "True"


def test_every_public_name_resolves_and_is_listed():
    for name in symcheck.__all__:
        assert getattr(symcheck, name) is not None
    assert set(symcheck.__all__) <= set(dir(symcheck))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        symcheck.nope  # noqa: B018
