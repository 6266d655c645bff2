"""Rendering of Proof records in every format."""

from __future__ import annotations

import json

import pytest

from symcheck import InvalidArgument
from symcheck.prove.proof import Proof, Residual, Step
from symcheck.prove.render import FORMATS, render

PROOF = Proof(
    theorem="identical_updates",
    statement="Tied neurons $h_1$ and $h_2$ receive identical gradients.",
    verdict="proved",
    network="2-2-1 (tanh, mse, mean)",
    assumptions=("relu'(0) = 0 & 50% of_the rest",),
    steps=(
        Step(
            "Backward pass",
            "The deltas are equal: $\\delta_1 = \\delta_2$.",
            ("\\delta^1 = (W^2)^\\top \\delta^2 \\odot \\varphi'(z^1)",),
        ),
    ),
    residuals=(Residual("dW1_0_0 - dW1_1_0", "0", "zero", "structural"),),
    witness={"x_1": "1"},
    conclusion="Symmetry is never broken.",
    facts={"pairs": 1},
)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_shows_the_verdict_and_the_statement(fmt) -> None:
    out = render(PROOF, fmt)
    assert "proved" in out.lower()
    assert "identical" in out


def test_markdown_puts_display_math_between_double_dollars() -> None:
    out = render(PROOF, "md")
    assert "$$\n\\delta^1 = (W^2)^\\top" in out
    assert "| dW1_0_0 - dW1_1_0 | zero | structural | `0` |" in out


def test_latex_escapes_prose_but_keeps_inline_math() -> None:
    out = render(PROOF, "latex")
    assert out.startswith("\\documentclass{article}")
    assert out.rstrip().endswith("\\end{document}")
    assert "\\& 50\\% of\\_the rest" in out
    assert "$\\delta_1 = \\delta_2$" in out


def test_json_is_a_versioned_certificate_that_round_trips() -> None:
    body = json.loads(render([PROOF, PROOF], "json"))
    assert body["schema"] == 1
    assert len(body["proofs"]) == 2
    assert body["proofs"][0] == PROOF.to_dict()
    assert body["proofs"][0]["residuals"][0]["status"] == "zero"


def test_unknown_format_and_wrong_objects_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="format='pdf' is not supported"):
        render(PROOF, "pdf")
    with pytest.raises(InvalidArgument, match="takes Proof records"):
        render(["not a proof"], "text")  # type: ignore[list-item]


def test_a_proof_with_an_unknown_verdict_cannot_be_built() -> None:
    with pytest.raises(InvalidArgument, match="verdict='maybe'"):
        Proof(theorem="t", statement="s", verdict="maybe")


def test_exit_code_is_0_only_when_every_proof_is_proved():
    import dataclasses

    from symcheck.prove.proof import exit_code

    refuted = dataclasses.replace(PROOF, verdict="refuted")
    unknown = dataclasses.replace(PROOF, verdict="unknown")
    assert exit_code([PROOF]) == 0 and exit_code([PROOF, PROOF]) == 0
    assert exit_code([PROOF, refuted]) == 1 and exit_code([unknown, refuted]) == 1
    assert exit_code([PROOF, unknown]) == 2 and exit_code([unknown]) == 2
