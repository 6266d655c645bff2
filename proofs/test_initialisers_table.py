"""The generated initialiser table (proofs/initialisers.md) is fresh and says what T1-T4 predict."""

from __future__ import annotations

from pathlib import Path

import pytest

from symcheck.model.inittable import NETWORKS, audit_initialiser, main, render_table

TABLE = Path(__file__).with_name("initialisers.md")


@pytest.fixture(scope="module")
def generated() -> str:
    return render_table()


def test_initialiser_table_is_not_stale(generated: str) -> None:
    assert TABLE.read_text(encoding="utf-8") == generated, (
        "proofs/initialisers.md is stale; run "
        "python -m symcheck.model.inittable --write proofs/initialisers.md"
    )


def test_stale_check_rejects_an_edited_table(
    tmp_path: Path, capsys: pytest.CaptureFixture, generated: str
) -> None:
    edited = tmp_path / "initialisers.md"
    edited.write_text(generated.replace("(collapsed", "(full", 1), encoding="utf-8")
    assert main(["--check", str(edited)]) == 1
    assert "stale" in capsys.readouterr().err


@pytest.mark.parametrize("spec", NETWORKS)
@pytest.mark.parametrize("name", ["zeros", "constant"])
def test_symmetric_initialisers_collapse_every_hidden_layer_to_one(name: str, spec: str) -> None:
    report = audit_initialiser(name, spec)
    assert [layer.effective_width for layer in report.layers] == [1] * len(report.layers)


@pytest.mark.parametrize("spec", NETWORKS)
@pytest.mark.parametrize("name", ["kaiming_normal", "orthogonal", "zero_hadamard"])
def test_random_orthogonal_and_hadamard_keep_full_width(name: str, spec: str) -> None:
    report = audit_initialiser(name, spec)
    assert not report.collapsed
    assert all(layer.effective_width == layer.width for layer in report.layers)


def test_identity_on_a_widening_layer_leaves_tied_zero_rows() -> None:
    report = audit_initialiser("eye", "2-4-8-1")
    first = report.layers[0]  # W1 is 4x2: neurons 2 and 3 get zero rows
    assert first.effective_width < first.width
    assert report.collapsed
