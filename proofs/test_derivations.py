"""The checked-in derivations are exactly what proofs/regenerate.py writes."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest

_spec = importlib.util.spec_from_file_location(
    "proofs_regenerate", pathlib.Path(__file__).with_name("regenerate.py")
)
regenerate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(regenerate)


@pytest.mark.parametrize("name", sorted(regenerate.DERIVATIONS))
def test_checked_in_derivation_is_fresh(name):
    path = regenerate.HERE / name
    assert path.exists(), f"{name} is missing; run: python proofs/regenerate.py"
    expected = regenerate.render(regenerate.DERIVATIONS[name](), "md")
    assert path.read_text(encoding="utf-8") == expected, (
        f"{name} is stale; run: python proofs/regenerate.py"
    )


def test_staleness_check_notices_a_changed_file(tmp_path):
    name = "symmetry-breaks.md"
    stale = (regenerate.HERE / name).read_text(encoding="utf-8").replace("proved", "refuted", 1)
    assert stale != regenerate.render(regenerate.DERIVATIONS[name](), "md")
