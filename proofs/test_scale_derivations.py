"""The generated scale derivations (proofs/scale_derivations.md) are fresh and proved."""

from __future__ import annotations

from pathlib import Path

import pytest

from symcheck.cli import main
from symcheck.cli.scale import catalogue_markdown
from symcheck.prove.scale_derive import CATALOGUE_ACTIVATIONS, catalogue

DOCUMENT = Path(__file__).with_name("scale_derivations.md")


def test_scale_derivations_document_is_not_stale():
    assert DOCUMENT.read_text(encoding="utf-8") == catalogue_markdown(), (
        "proofs/scale_derivations.md is stale; run "
        "symcheck derive-init --catalogue --format md --write proofs/scale_derivations.md"
    )


def test_stale_check_rejects_an_edited_document():
    edited = DOCUMENT.read_text(encoding="utf-8").replace("\\sigma_w^2 = 2", "\\sigma_w^2 = 3", 1)
    assert edited != DOCUMENT.read_text(encoding="utf-8")
    assert edited != catalogue_markdown()


def test_catalogue_is_proved_except_sigmoid_and_the_non_vanishing_presets():
    verdicts = {p.theorem: p.verdict for p in catalogue()}
    assert verdicts["critical variance for sigmoid"] == "unknown"
    refuted = {t for t, v in verdicts.items() if v == "refuted"}
    assert refuted and all(t.startswith("classic_normal_variance") for t in refuted)
    unknown = {t for t, v in verdicts.items() if v == "unknown"}
    assert unknown == {"critical variance for sigmoid"}
    assert len(CATALOGUE_ACTIVATIONS) == 6


def test_catalogue_write_goes_to_the_given_path(tmp_path: Path, capsys: pytest.CaptureFixture):
    out = tmp_path / "derivations.md"
    assert main(["derive-init", "--catalogue", "--format", "md", "--write", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == catalogue_markdown()
    assert main(["derive-init", "--write", str(out)]) == 2
    capsys.readouterr()
