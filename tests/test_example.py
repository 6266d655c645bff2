"""The classic slide: values reproduced exactly, each claim classified against the correct one."""

from __future__ import annotations

import pytest
import sympy as sp

from symcheck.cli import main
from symcheck.model.example import (
    CLAIMS,
    RANDOM_STEPS,
    SLIDE_INPUT,
    SLIDE_RANDOM_W,
    STEPS,
    StepValues,
    _equal,
    _start,
    _trajectory,
    classic_slide,
)
from symcheck.model.network import Network
from symcheck.prove.zerotest import Uncertified

R = sp.Rational
RELU_RUNS = ["relu, linear output, squared error", "relu, softmax output, cross entropy"]


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


def test_dead_relu_neuron_fails_the_claim_at_every_step(slide):
    # h_1 = -1/10 < 0: delta_1 = 0, so dL/dW_11 = dL/dW_12 = 0 and W_1 never moves.
    claim = slide.facts["claims"][4]
    assert claim["verdict"] == "holds only under a condition: delta_1 != 0"
    assert claim["failed_in"] == RELU_RUNS
    assert len(claim["held_in"]) == 6
    assert slide.facts["claims"][5]["failed_in"] == []


def test_claims_are_checked_over_at_least_three_steps(slide):
    assert STEPS >= 3 and RANDOM_STEPS >= 3
    assert f"over {STEPS} gradient steps from zero init and {RANDOM_STEPS} from" in slide.statement
    sigmoid = slide.facts["claims"][2]["failed_in"][0]
    assert sigmoid.endswith(f"(held at steps [0, 1] of 0..{STEPS})")


def test_dead_relu_weights_stay_exact_over_the_random_trajectory():
    net = Network((2, 2, 2), "relu", "cross_entropy", bias=False)
    w_out = ((R(3, 10), R(-1, 5)), (R(1, 10), R(2, 5)))
    traj = _trajectory(net, _start("random", 2, w_out), (R(1), R(0)), RANDOM_STEPS)
    assert all(p[0][0][0] == SLIDE_RANDOM_W[0] for p, _ in traj.points)
    assert all(g[0][0][0] == (0, 0) for _, g in traj.points[:-1])


def test_later_steps_do_not_nest_the_activation():
    net = Network((2, 2, 1), "tanh", "mse", bias=False)
    traj = _trajectory(net, _start("random", 1, ((R(3, 10), R(-1, 5)),)), (R(1),), RANDOM_STEPS)
    grads = traj.points[-2][1]
    nested = [t for g in grads[0][0][0] for t in g.atoms(sp.tanh) if t.args[0].has(sp.tanh)]
    assert nested == [] and traj.values.enclosures


def test_a_difference_of_1e_40_is_certified_to_differ():
    a = sp.tanh(R(1, 3))
    assert _equal(a, a + R(1, 10**40)) is False
    values = StepValues()
    v, w = values.name(a), values.name(a + R(1, 10**40))
    assert v != w and _equal(v, w, values) is False
    assert _equal(2 * v, v + values.name(sp.tanh(R(1, 3))), values) is True


def test_equal_closed_forms_written_differently_are_equal():
    assert _equal((1 + sp.sqrt(2)) ** 2, 3 + 2 * sp.sqrt(2)) is True
    values = StepValues()
    v = values.name(sp.exp(R(1, 7)))
    assert _equal(v * (v + 1), v**2 + v, values) is True


def test_an_undecidable_comparison_is_refused_not_guessed():
    # tanh(2) = 2 tanh(1) / (1 + tanh(1)^2): the enclosure contains 0, expand does not see it.
    double = 2 * sp.tanh(1) / (1 + sp.tanh(1) ** 2)
    with pytest.raises(ArithmeticError):
        _equal(sp.tanh(2), double)
    with pytest.raises(ArithmeticError):
        _equal(sp.Dummy("v"), sp.tanh(1), StepValues())
    kink = sp.Piecewise((1, sp.tanh(2) - double > 0), (0, True))
    with pytest.raises(Uncertified):
        StepValues().name(kink)


def test_correct_statements_hold_in_every_scenario(slide):
    assert slide.proved


def test_example_command_exits_zero(capsys):
    assert main(["example", "--format", "md"]) == 0
    assert "classic_slide" in capsys.readouterr().out
