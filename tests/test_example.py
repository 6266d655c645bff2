"""The classic slide: values reproduced exactly, each claim classified against the correct one."""

from __future__ import annotations

import pytest

from symcheck.cli import main
from symcheck.example import CLAIMS, SLIDE_INPUT, SLIDE_RANDOM_W, classic_slide


@pytest.fixture(scope="module")
def slide():
    return classic_slide()


def test_slide_forward_values_are_reproduced_exactly(slide):
    (w11, w12), (w21, w22) = SLIDE_RANDOM_W
    x1, x2 = SLIDE_INPUT
    assert str(w11 * x1 + w12 * x2) == "-1/10" and w21 * x1 + w22 * x2 == 1
    assert slide.steps[0].title == "Forward values reproduced"


def test_every_slide_claim_is_classified_with_its_correct_statement(slide):
    claims = slide.facts["claims"]
    assert [c["claim"] for c in claims] == [c.text for c in CLAIMS]
    assert all(c["correct"] for c in claims)


def test_same_gradient_claim_holds_only_when_the_delta_vanishes(slide):
    first = slide.facts["claims"][0]
    assert first["verdict"] == "holds only under a condition: delta_1 = 0 (then both are 0)"
    assert any(f.startswith("sigmoid") for f in first["failed_in"])
    assert any(h.startswith("tanh") for h in first["held_in"])


def test_random_init_claim_fails_for_a_dead_relu_neuron(slide):
    claim = slide.facts["claims"][4]
    assert claim["claim"] == "dL/dW_11 != dL/dW_12"
    assert all(f.startswith("relu") for f in claim["failed_in"])


def test_correct_statements_hold_in_every_scenario(slide):
    assert slide.proved


def test_example_command_exits_zero(capsys):
    assert main(["example", "--format", "md"]) == 0
    assert "classic_slide" in capsys.readouterr().out
