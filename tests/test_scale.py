"""Unit tests of the Gaussian expectations, the mean-field theory and the derivations."""

from __future__ import annotations

import json
import math

import mpmath
import numpy as np
import pytest
import sympy as sp

from symcheck.errors import InvalidArgument
from symcheck.measure.gaussian import MOMENTS, RULES, Q, closed_form, gaussian_expectation, moment
from symcheck.measure.scale import (
    RELATIVE_TOLERANCE,
    chi1,
    critical_sigma_w2,
    depth_scale,
    fixed_point,
    mean_field,
    regime,
    variance_map,
)
from symcheck.prove.render import FORMATS, render
from symcheck.prove.scale_derive import (
    PRESETS,
    critical_variance,
    derive_critical_init,
    derive_glorot,
    derive_preset,
    recommend_init,
)

EPS = np.finfo(float).eps


# -- invalid arguments, one table for the area ---------------------------------------------


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: moment("tanh", "third", 1.0), "moment='third'"),
        (lambda: moment("tanh", "second", -1.0), "q=-1.0"),
        (lambda: moment("tanh", "second", math.nan), "q=nan"),
        (lambda: moment("sigma", "second", 1.0), "abstract"),
        (lambda: gaussian_expectation(np.tanh, 1.0, rule="simpson"), "rule='simpson'"),
        (lambda: closed_form("relu", "fourth"), "moment='fourth'"),
        (lambda: variance_map("tanh", 1.0, sigma_w2=-1.0), "sigma_w2=-1.0"),
        (lambda: fixed_point("tanh", sigma_w2=1.0, sigma_b2=math.inf), "sigma_b2=inf"),
        (lambda: fixed_point("tanh", sigma_w2=1.0, q0=-2.0), "q0=-2.0"),
        (lambda: critical_sigma_w2("square"), "no critical sigma_w2"),
        (lambda: derive_preset("classic_big", activation="tanh", width=8), "preset='classic_big'"),
        (lambda: derive_preset("classic_normal", activation="tanh", width=0), "width=0"),
        (lambda: derive_preset("classic_normal", activation="sigma", width=8), "abstract"),
        (lambda: derive_glorot(0, 3), "fan_in=0"),
        (lambda: derive_critical_init("tanhh"), "activation='tanhh'"),
    ],
)
def test_invalid_scale_arguments_name_the_value(call, fragment):
    with pytest.raises(InvalidArgument, match=None) as info:
        call()
    assert fragment in str(info.value)


# -- Gaussian expectations -----------------------------------------------------------------


def _reference(f, q: float) -> float:
    s = mpmath.sqrt(q)
    return float(
        mpmath.quad(
            lambda z: f(s * z) * mpmath.npdf(z),
            [-mpmath.inf, -10 / s, -1 / s, 0, 1 / s, 10 / s, mpmath.inf],
        )
    )


_MP = {
    ("tanh", "second"): lambda u: mpmath.tanh(u) ** 2,
    ("tanh", "derivative"): lambda u: mpmath.sech(u) ** 4,
    ("sigmoid", "second"): lambda u: 1 / (1 + mpmath.exp(-u)) ** 2,
    ("sigmoid", "mean"): lambda u: 1 / (1 + mpmath.exp(-u)),
    ("softplus", "derivative"): lambda u: 1 / (1 + mpmath.exp(-u)) ** 2,
}


@pytest.mark.parametrize(("activation", "kind"), sorted(_MP))
@pytest.mark.parametrize("q", [1e-4, 0.3, 1.0, 7.0, 300.0, 5e4])
def test_quadrature_matches_mpmath_to_summation_rounding(activation, kind, q):
    rule = "hermite" if q <= 1.0 else "composite"
    nodes = len(RULES[rule](q)[0])
    exact = _reference(_MP[activation, kind], q)
    # Summing n positive terms rounds by at most n eps times the sum (Higham, gamma_n).
    assert abs(moment(activation, kind, q) - exact) <= nodes * EPS * abs(exact)


@pytest.mark.parametrize("q", [1e-4, 1.0, 300.0, 5e4])
def test_sin_second_moment_matches_its_closed_form(q):
    # E[sin(sqrt(q) z)^2] = (1 - exp(-2 q)) / 2; adaptive mpmath misses the oscillation.
    exact = -math.expm1(-2 * q) / 2
    nodes = len(RULES["hermite" if q <= 1 else "composite"](q)[0])
    assert abs(moment("sin", "second", q) - exact) <= nodes * EPS * exact


def test_hermite_is_far_off_for_tanh_at_large_q_which_is_why_auto_switches():
    q = 100.0
    exact = _reference(_MP["tanh", "derivative"], q)
    nodes = len(RULES["hermite"](q)[0])
    assert abs(moment("tanh", "derivative", q, rule="hermite") - exact) > nodes * EPS * exact
    assert abs(moment("tanh", "derivative", q) - exact) <= nodes * EPS * exact


@pytest.mark.parametrize(
    ("activation", "kind", "expected"),
    [
        ("identity", "second", Q),
        ("identity", "derivative", sp.Integer(1)),
        ("relu", "second", Q / 2),
        ("relu", "derivative", sp.Rational(1, 2)),
        ("relu", "mean", sp.sqrt(Q) / sp.sqrt(2 * sp.pi)),
        ("leaky_relu(1/5)", "second", sp.Rational(13, 25) * Q),
        ("square", "second", 3 * Q**2),
    ],
)
def test_closed_forms_are_the_textbook_gaussian_integrals(activation, kind, expected):
    assert sp.simplify(closed_form(activation, kind) - expected) == 0


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "softplus", "sin", "sigma"])
def test_activations_without_piecewise_polynomial_form_have_no_closed_form(activation):
    assert closed_form(activation, "second") is None


def test_even_gauss_hermite_integrates_the_relu_second_moment_exactly():
    for q in (0.01, 1.0, 100.0):
        value = moment("relu", "second", q, rule="hermite")
        assert abs(value - q / 2) <= len(RULES["hermite"](q)[0]) * EPS * q


def test_every_moment_has_a_numeric_and_a_symbolic_integrand():
    assert set(MOMENTS) == {"second", "derivative", "mean"}


# -- mean field ----------------------------------------------------------------------------


def test_relu_at_sigma_w2_two_keeps_every_q_fixed():
    fp = fixed_point("relu", sigma_w2=2.0, q0=3.0)
    assert fp.q_star == 3.0
    assert fp.exact_everywhere


def test_identity_fixed_point_is_the_geometric_series_limit():
    # q = 0.5 q + 0.1 has the root q* = 0.2.
    fp = fixed_point("identity", sigma_w2=0.5, sigma_b2=0.1)
    assert abs(fp.q_star - 0.2) <= 4 * RELATIVE_TOLERANCE


def test_tanh_below_the_critical_line_collapses_to_zero():
    assert fixed_point("tanh", sigma_w2=0.5).q_star == 0.0
    assert chi1("tanh", sigma_w2=0.5) == pytest.approx(0.5, rel=8 * EPS)


def test_tanh_above_the_critical_line_has_a_positive_fixed_point():
    fp = fixed_point("tanh", sigma_w2=2.0)
    assert fp.q_star > 0
    residual = variance_map("tanh", fp.q_star, sigma_w2=2.0) - fp.q_star
    assert abs(residual) <= 4 * RELATIVE_TOLERANCE * fp.q_star


def test_relu_above_two_diverges_and_chi_is_still_half_sigma_w2():
    mf = mean_field("relu", sigma_w2=3.0)
    assert math.isinf(mf.q_star)
    assert mf.chi1 == pytest.approx(1.5, rel=1e-12)
    assert mf.regime == "exploding"


@pytest.mark.parametrize("sw2", [0.5, 1.0, 2.0, 4.0])
def test_relu_chi_is_half_sigma_w2_at_any_q(sw2):
    assert chi1("relu", sigma_w2=sw2) == pytest.approx(sw2 / 2, rel=1e-12)


def test_depth_scale_and_regime_follow_the_sign_of_log_chi():
    assert depth_scale(math.exp(-0.5)) == pytest.approx(2.0, rel=4 * EPS)
    assert depth_scale(1.0) == math.inf
    assert depth_scale(math.e) == pytest.approx(-1.0, rel=4 * EPS)
    assert [regime(0.5), regime(1.0), regime(2.0)] == ["vanishing", "critical", "exploding"]


@pytest.mark.parametrize(
    ("activation", "expected"),
    [("relu", 2.0), ("identity", 1.0), ("leaky_relu(1/5)", 2 / (1 + 1 / 25))],
)
def test_critical_line_at_zero_bias_for_homogeneous_activations(activation, expected):
    assert critical_sigma_w2(activation) == pytest.approx(expected, rel=1e-12)


def test_tanh_critical_point_at_zero_bias_is_one_to_the_flatness_of_chi():
    # chi_1 - 1 is quadratic in sigma_w^2 - 1 above 1, so the root is found only to
    # about sqrt of the tolerance.
    assert critical_sigma_w2("tanh") == pytest.approx(1.0, abs=8 * math.sqrt(RELATIVE_TOLERANCE))


def test_bias_moves_the_tanh_critical_line_up():
    assert critical_sigma_w2("tanh", sigma_b2=0.05) > 1.5


# -- derivations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("activation", "theorem", "sigma_w2"),
    [
        ("relu", "He initialisation", "2"),
        ("leaky_relu", "He initialisation", "20000/10001"),
        ("identity", "LeCun initialisation", "1"),
        ("tanh", "LeCun initialisation", "1"),
    ],
)
def test_critical_init_derivations_are_proved_with_exact_variances(activation, theorem, sigma_w2):
    proof = derive_critical_init(activation)
    assert proof.verdict == "proved"
    assert proof.theorem.startswith(theorem)
    assert proof.facts["sigma_w2"] == sigma_w2
    assert all(r.status == "zero" for r in proof.residuals)


def test_sigmoid_critical_variance_is_numeric_and_unknown():
    proof = derive_critical_init("sigmoid")
    assert proof.verdict == "unknown"
    assert chi1("sigmoid", sigma_w2=proof.facts["sigma_w2"]) == pytest.approx(1.0, abs=1e-9)


def test_relu_derivation_states_the_kink_convention():
    assert any("relu'(0) = 0" in a for a in derive_critical_init("relu").assumptions)


def test_glorot_compromise_is_exact_for_square_layers_and_averages_otherwise():
    symbolic = derive_glorot()
    assert symbolic.verdict == "proved"
    concrete = derive_glorot(3, 5)
    assert concrete.facts["variance"] == "1/4"
    assert (concrete.facts["forward_gain"], concrete.facts["backward_gain"]) == ("3/4", "5/4")


@pytest.mark.parametrize("width", [32, 128, 512])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("preset", ["classic_normal", "classic_uniform"])
def test_classic_presets_are_proved_vanishing(preset, activation, width):
    proof = derive_preset(preset, activation=activation, width=width)
    assert proof.verdict == "proved"
    assert proof.facts["regime"] == "vanishing"
    slope = 1.0 if activation == "tanh" else 0.5
    assert proof.facts["chi1"] == pytest.approx(width * float(PRESETS[preset].variance) * slope)


def test_variance_reading_at_width_512_is_refuted_as_exploding():
    proof = derive_preset("classic_normal_variance", activation="relu", width=512)
    assert proof.verdict == "refuted"
    assert proof.facts["chi1"] == pytest.approx(2.56)


@pytest.mark.parametrize(
    ("activation", "name"),
    [("relu", "kaiming_normal"), ("tanh", "lecun_normal"), ("leaky_relu", "kaiming_normal")],
)
def test_recommended_initialiser_has_the_critical_variance(activation, name):
    rec = recommend_init(activation)
    assert rec.name == name
    a = rec.options.get("a", 0.0 if name == "kaiming_normal" else 1.0)
    assert 2.0 / (1.0 + a * a) == pytest.approx(critical_variance(activation), rel=1e-12)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_derivations_render_in_every_format(fmt):
    for proof in (
        derive_critical_init("relu"),
        derive_glorot(),
        derive_preset("classic_uniform", activation="tanh", width=64),
    ):
        out = render(proof, fmt)
        name = proof.theorem.split()[0]
        assert (name.replace("_", r"\_") if fmt == "latex" else name) in out
    if fmt == "json":
        assert json.loads(render(derive_glorot(), fmt))["proofs"][0]["verdict"] == "proved"
