"""Unit tests of the symbolic engine: naming scheme, inits, both gradient paths, size limits."""

from __future__ import annotations

import pytest
import sympy as sp

from symcheck.errors import InvalidArgument
from symcheck.model.activations import ACTIVATIONS
from symcheck.model.losses import LOSSES
from symcheck.model.network import Network
from symcheck.prove.piecewise import piecewise_equal
from symcheck.prove.symbolic import (
    MAX_SYMBOLIC_PARAMETERS,
    bias_symbol,
    check_symbolic_size,
    init_point,
    input_symbol,
    layered_gradients,
    parse_symbol,
    plain_gradients,
    target_symbol,
    weight_symbol,
)
from symcheck.prove.ties import gradient_mismatches
from symcheck.prove.zerotest import ZERO


def _output_width(loss: str) -> int:
    return 2 if loss == "cross_entropy" else 1


def test_symbol_names_follow_the_documented_scheme():
    assert weight_symbol(1, 0, 1).name == "W1_0_1"
    assert bias_symbol(2, 3).name == "b2_3"
    assert input_symbol(0, 1).name == "x0_1"
    assert target_symbol(2, 0).name == "y2_0"


@pytest.mark.parametrize(
    ("name", "parsed"),
    [
        ("W1_0_1", ("W", 1, 0, 1)),
        ("W2_t_t", ("W", 2, "t", "t")),
        ("b1_t", ("b", 1, "t", None)),
        ("x3_4", ("x", 3, 4, None)),
        ("y0_1", ("y", 0, 1, None)),
    ],
)
def test_symbol_names_parse_back_to_their_indices(name, parsed):
    assert parse_symbol(name) == parsed


def test_generic_point_gives_every_parameter_its_own_symbol():
    net = Network.parse("2-3-1")
    point = init_point(net, "random")
    assert len(point.symbols) == net.parameter_count
    assert point.params[0][0][2][1] == weight_symbol(1, 2, 1)


def test_tied_point_shares_one_row_per_hidden_layer():
    point = init_point(Network.parse("2-3-3-1"), "tied")
    w1, b1 = point.params[0]
    w2, _ = point.params[1]
    assert w1[0] == w1[1] == w1[2] == (weight_symbol(1, "t", 0), weight_symbol(1, "t", 1))
    assert b1 == (bias_symbol(1, "t"),) * 3
    assert {v for row in w2 for v in row} == {weight_symbol(2, "t", "t")}


def test_constant_point_accepts_a_rational_or_a_symbol():
    net = Network.parse("2-2-1")
    assert init_point(net, "constant", value="1/10").params[0][0][0][0] == sp.Rational(1, 10)
    assert init_point(net, "constant").params[1][1][0] == sp.Symbol("c")


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_layered_and_plain_gradients_agree_exactly(activation, loss):
    net = Network((2, 2, _output_width(loss)), activation, loss)
    params = init_point(net, "random").params
    layered, _ = layered_gradients(net, params)
    plain = plain_gradients(net, params)
    if ACTIVATIONS[activation].analytic or ACTIVATIONS[activation].abstract:
        assert gradient_mismatches(layered, plain) == []
        return
    # Piecewise activations: branch by branch on every sign region of the pre-activations,
    # boundaries z = 0 included (symcheck.prove.piecewise; two hidden layers and the refusals are in
    # tests/test_piecewise_paths.py).
    result = piecewise_equal(layered, plain)
    assert result.status == ZERO, result
    assert result.regions == 9  # two pre-activations, each > 0, = 0 or < 0


@pytest.mark.parametrize("init", ["zero", "tied"])
def test_layered_and_plain_gradients_agree_at_symmetric_points_with_sigma_and_ell(init):
    net = Network.parse("2-2-1", activation="sigma", loss="ell")
    params = init_point(net, init).params
    assert (
        gradient_mismatches(layered_gradients(net, params)[0], plain_gradients(net, params)) == []
    )


def test_gradient_comparison_rejects_a_wrong_factor():
    net = Network.parse("2-2-1", activation="tanh")
    params = init_point(net, "random").params
    good, _ = layered_gradients(net, params)
    (w1, b1), rest = good[0], good[1:]
    broken_row = (2 * w1[0][0], *w1[0][1:])
    broken = (((broken_row, *w1[1:]), b1), *rest)
    mismatches = gradient_mismatches(broken, plain_gradients(net, params))
    assert [pos for pos, _, _ in mismatches] == [(0, "w", 0, 0)]


def test_batch_gradient_is_the_scaled_sum_of_per_sample_gradients():
    net = Network.parse("2-2-1", activation="sin", reduction="mean")
    params = init_point(net, "random").params
    two, _ = layered_gradients(net, params, batch=2)
    one, _ = layered_gradients(net, params, batch=1)
    shifted = one[0][0][0][0].xreplace(
        {input_symbol(0, k): input_symbol(1, k) for k in range(2)}
        | {target_symbol(0, 0): target_symbol(1, 0)}
    )
    assert sp.expand(two[0][0][0][0] - (one[0][0][0][0] + shifted) / 2) == 0


def test_size_limit_names_the_size_the_limit_and_the_fix():
    net = Network.parse("300-300-300-10")
    with pytest.raises(InvalidArgument) as info:
        check_symbolic_size(net)
    message = str(info.value)
    assert str(net.parameter_count) in message
    assert str(MAX_SYMBOLIC_PARAMETERS) in message
    assert "numeric engine" in message


def test_canonical_hook_makes_lumped_neurons_structurally_equal():
    # Rows of W2 with equal sums: the two hidden neurons of layer 2 are lumped,
    # but their pre-activations are equal only after expanding.
    net = Network.parse("1-3-2-1", activation="tanh", bias=False)
    p, a, n0, n1, c = sp.symbols("p a n0 n1 c", real=True)
    params = [
        ([[p], [p], [p]], None),
        ([[a + n0, a + n1, a - n0 - n1], [a - n0, a - n1, a + n0 + n1]], None),
        ([[c, c]], None),
    ]
    plain, plain_deltas = layered_gradients(net, params)
    expanded, deltas = layered_gradients(net, params, canonical=sp.expand)
    assert plain_deltas[0][1][0] != plain_deltas[0][1][1]
    assert sp.expand(plain_deltas[0][1][0] - plain_deltas[0][1][1]) == 0
    assert deltas[0][1][0] == deltas[0][1][1]
    assert expanded[1][0][0][0] == expanded[1][0][1][0]
    assert expanded[2][0][0][0] == sp.expand(plain[2][0][0][0])


def test_structural_shortcuts_build_what_sympy_builds():
    from symcheck.prove.symbolic import _product, _total

    x, y = sp.symbols("x y")
    cases = [(0, x), (x, 0), (1, x), (x, 1), (2, x), (x, y), (sp.Rational(1, 2), 4), (0, sp.oo)]
    for a, b in cases:
        a, b = sp.sympify(a), sp.sympify(b)
        assert _product((a, b)) == a * b
    assert _product((sp.Integer(0), sp.oo)) is sp.nan  # 0 * oo: SymPy decides
    for terms in ([], [0], [0, x, 0], [x, y], [x, -x], [1, 2]):
        terms = [sp.sympify(t) for t in terms]
        assert _total(terms) == sp.Add(*terms)
    for factors in ([], [0, x], [1, x], [1, 1], [-1, 0, x], [2, x, y], [0, sp.oo, x]):
        factors = [sp.sympify(f) for f in factors]
        assert _product(factors) == sp.Mul(*factors)


@pytest.mark.parametrize("name", sorted(n for n, a in ACTIVATIONS.items() if not a.abstract))
def test_template_replacement_builds_what_xreplace_builds(name):
    from symcheck.prove.symbolic import _activation_template, _replace

    d, template, _ = _activation_template(ACTIVATIONS[name])
    x, y = sp.symbols("x y")
    for value in (sp.Integer(0), sp.Integer(1), sp.Rational(-1, 3), x, x * y + 1, sp.tanh(x)):
        assert _replace(template, {d: value}) == template.xreplace({d: value})


def test_local_derivatives_are_derived_again_after_clearing():
    from symcheck.prove import symbolic
    from symcheck.prove.theorems import prove_identical_updates

    net = Network.parse("2-2-2", activation="tanh", loss="bce")
    symbolic.clear_local_derivatives()
    assert symbolic._activation_template.cache_info().currsize == 0
    assert prove_identical_updates(net, init="tied").proved
    assert symbolic._activation_template.cache_info().currsize == 1
    assert symbolic._term_template.cache_info().currsize == 1


@pytest.mark.parametrize("init", ["zero", "tied"])
def test_plain_path_substitutes_by_subs_or_xreplace_alike(init):
    net = Network.parse("2-2-1", activation="tanh", loss="bce")
    params = init_point(net, init).params
    by_subs = plain_gradients(net, params, substitute="subs")
    assert gradient_mismatches(by_subs, plain_gradients(net, params)) == []
    with pytest.raises(InvalidArgument, match="substitute='eval'"):
        plain_gradients(net, params, substitute="eval")


def test_certified_value_certifies_non_zero_or_refuses():
    from symcheck.prove.zerotest import Uncertified, certified_value

    assert certified_value(sp.Rational(-3, 7)) == (sp.Rational(-3, 7), "exact")
    value, bound = certified_value(sp.tanh(1) - sp.Rational(3, 4))
    assert abs(value - sp.Float("0.01159415595576488811945828", 26)) < 1e-25
    assert "interval" in bound
    for zero in (sp.Integer(0), sp.tanh(0), sp.sin(sp.pi)):
        with pytest.raises(Uncertified):
            certified_value(zero)
    with pytest.raises(Uncertified):  # equal to 0 but not structurally: the enclosure has 0
        certified_value(sp.tanh(1) ** 2 + 1 / sp.cosh(1) ** 2 - 1)
    assert certified_value(sp.Integer(0), allow_zero=True)[0] == 0


@pytest.mark.parametrize("path", [layered_gradients, plain_gradients])
def test_both_paths_refuse_a_target_count_that_differs_from_the_input_count(path):
    net = Network.parse("1-2-1", activation="tanh")
    params = init_point(net, "zero").params
    with pytest.raises(InvalidArgument, match="xs has 2 samples but ys has 1"):
        path(net, params, [[1], [2]], [[0]])
