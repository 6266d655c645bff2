"""Fixtures shared by the torch tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

_names = (f"user_models_{k}" for k in itertools.count())


@pytest.fixture
def user_module(tmp_path, monkeypatch) -> Callable[[str], str]:
    """Write Python source as a fresh module in the (temporary) current directory; the
    returned function gives the module's name, importable for the test's duration."""

    def write(source: str) -> str:
        name = next(_names)
        (tmp_path / f"{name}.py").write_text(source)
        monkeypatch.chdir(tmp_path)
        monkeypatch.syspath_prepend(str(tmp_path))
        return name

    return write
