"""The tie checker on hand-built layouts: every entry of a tied pair is compared.

A tied pair of hidden neurons must carry equal incoming rows, equal biases
(when the network has biases) and equal outgoing columns; a difference in any
single entry -- a bias alone, an outgoing weight alone -- refutes the tie with
a witness point, and a difference that no rewrite decides is ``unknown``,
never ``zero`` (soundness rule, ``docs/theory.md``). The same holds for the
comparison of two gradient layouts (:func:`gradient_mismatches`), and for
``reduction="sum"`` networks, whose gradients are the batch size times the
``mean`` ones, not zero.
"""

from __future__ import annotations

import dataclasses

import pytest
import sympy as sp

from symcheck.model.network import Network
from symcheck.prove.symbolic import data_symbols, init_point, layered_gradients
from symcheck.prove.theorems import prove_identical_updates
from symcheck.prove.ties import (
    WITNESS_SEEDS,
    Witnesses,
    check_ties,
    decide,
    gradient_mismatches,
    tie_pairs,
)
from symcheck.prove.witness import rational_point
from symcheck.prove.zerotest import NONZERO, UNKNOWN, ZERO, zero_test

a, c, d, e, f, g = sp.symbols("a c d e f g")
sigma = sp.Function("sigma")
LOG_ZERO = sp.log(2) + sp.log(3) - sp.log(6)  # zero, but undecidable here
NET = Network.parse("2-2-1", activation="tanh")
NET_NO_BIAS = Network.parse("2-2-1", activation="tanh", bias=False)


def _layout(w1, b1, w2, b2=(g,)):
    return ((tuple(map(tuple, w1)), None if b1 is None else tuple(b1)), ((tuple(w2),), b2))


def _symbols(layout) -> set:
    out: set = set()
    for w, b in layout:
        for v in (*[v for row in w for v in row], *(b or ())):
            out |= sp.sympify(v).free_symbols
    return out


def _witnesses(layout, valid=lambda point: True) -> Witnesses:
    def evaluate(point: dict):
        return tuple(
            (
                tuple(tuple(sp.sympify(v).xreplace(point) for v in row) for row in w),
                None if b is None else tuple(sp.sympify(v).xreplace(point) for v in b),
            )
            for w, b in layout
        )

    return Witnesses(_symbols(layout), evaluate, valid)


def _check(layout, network=NET, classes=(((0, 1),), ((0,),)), **kw):
    return check_ties(network, layout, classes, _witnesses(layout, **kw))


def test_tie_pairs_pair_every_member_with_the_first() -> None:
    classes = [[[0, 2, 3], [1]], [[1, 0]]]
    assert tie_pairs(classes) == [(1, 2, 0), (1, 3, 0), (2, 0, 1)]
    assert tie_pairs([[[0], [1]]]) == []


def test_a_tied_pair_is_zero_structurally() -> None:
    check = _check(_layout([[a, c], [a, c]], [d, d], [e, e]))
    assert check.status == ZERO and check.witness is None
    assert [(r.label, r.expression, r.status, r.method) for r in check.residuals] == [
        ("layer 1: neuron 1 vs neuron 0", "0", ZERO, "structural")
    ]


def test_a_tied_pair_without_biases_is_zero() -> None:
    check = _check(_layout([[a, c], [a, c]], None, [e, e], None), NET_NO_BIAS)
    assert check.status == ZERO
    assert len(check.residuals) == 1


@pytest.mark.parametrize(
    ("w1", "b1", "w2", "entry", "diff"),
    [
        ([[a, c], [a, c]], [d, f], [e, e], "dL/db1[1] - dL/db1[0]", f - d),
        ([[a, c], [a, f]], [d, d], [e, e], "dL/dW1[1,1] - dL/dW1[0,1]", f - c),
        ([[a, c], [f, c]], [d, d], [e, e], "dL/dW1[1,0] - dL/dW1[0,0]", f - a),
        ([[a, c], [a, c]], [d, d], [e, f], "dL/dW2[0,1] - dL/dW2[0,0]", f - e),
        ([[a, c], [a, f]], None, [e, e], "dL/dW1[1,1] - dL/dW1[0,1]", f - c),
        ([[a, c], [a, c]], None, [e, f], "dL/dW2[0,1] - dL/dW2[0,0]", f - e),
    ],
    ids=["bias only", "incoming k=1", "incoming k=0", "outgoing", "no bias: in", "no bias: out"],
)
def test_one_differing_entry_refutes_the_tie_with_a_witness(w1, b1, w2, entry, diff) -> None:
    layout = _layout(w1, b1, w2, None if b1 is None else (g,))
    check = _check(layout, NET if b1 is not None else NET_NO_BIAS)
    assert check.status == NONZERO
    (r,) = check.residuals
    assert (r.label, r.status) == (f"layer 1: neuron 1 vs neuron 0: {entry}", NONZERO)
    assert r.method == "witness seed 0; exact"
    point = {sp.Symbol(k): sp.Rational(v) for k, v in check.witness.items()}
    assert point == rational_point(_symbols(layout), 0)
    assert sp.Rational(r.expression) == diff.xreplace(point) != 0


def test_bias_entries_are_compared_only_when_the_network_has_biases() -> None:
    """The second neuron's bias differs; a bias-free layout has no bias to compare."""
    with_bias = _check(_layout([[a, c], [a, c]], [d, f], [e, e]))
    assert with_bias.status == NONZERO
    without = _check(_layout([[a, c], [a, c]], None, [e, e], None), NET_NO_BIAS)
    assert without.status == ZERO


def test_the_witness_is_the_point_that_refutes_the_first_refuted_pair() -> None:
    net = Network.parse("2-2-2-1", activation="tanh")
    base = (((a, c), (a, c)), (d, f))  # layer 1: the biases differ
    symbols = {a, c, d, e, f, g}
    at0 = rational_point(symbols, 0)
    # layer 2: the outgoing weights differ by e - e(seed 0), zero at seed 0 only
    layer2 = (((e, e), (e, e)), (g, g))
    layer3 = (((e, at0[e]),), None)
    layout = (base, layer2, layer3)
    check = check_ties(net, layout, [[[0, 1]], [[0, 1]], [[0]]], _witnesses(layout))
    assert [r.status for r in check.residuals] == [NONZERO, NONZERO]
    assert check.residuals[1].method.startswith("witness seed ")
    assert not check.residuals[1].method.startswith("witness seed 0;")
    assert check.witness == {s.name: str(v) for s, v in at0.items()}


def test_output_layer_classes_are_not_checked() -> None:
    """The outputs have no outgoing weights: a class there is no tie claim."""
    net = Network.parse("2-2-2", activation="tanh")
    layout = _layout([[a, c], [a, c]], [d, d], [e, e], (g, g))
    layout = (layout[0], (((e, e), (f, f)), (g, g)))
    check = check_ties(net, layout, [[[0, 1]], [[0, 1]]], _witnesses(layout))
    assert [r.label for r in check.residuals] == ["layer 1: neuron 1 vs neuron 0"]


def test_zero_after_rewriting_names_the_strongest_method() -> None:
    expanded = _check(_layout([[(a + 1) ** 2, c], [a**2 + 2 * a + 1, c]], [d, d], [e, e]))
    assert expanded.status == ZERO
    assert expanded.residuals[0].method == "expand"
    cancelled = _check(_layout([[(a**2 - 1) / (a - 1), c], [a + 1, c]], [d, d], [e, e]))
    assert cancelled.residuals[0].method == "cancel"
    both = _check(
        _layout([[(a**2 - 1) / (a - 1), (c + 1) ** 2], [a + 1, c**2 + 2 * c + 1]], [d, d], [e, e])
    )
    assert (both.status, both.residuals[0].method) == (ZERO, "cancel")
    relu = sp.Piecewise((2 * a, a > 0), (0, True))
    folded = _check(
        _layout([[relu, c], [2 * sp.Piecewise((a, a > 0), (0, True)), c]], [d, d], [e, e])
    )
    assert (folded.status, folded.residuals[0].method) == (ZERO, "piecewise")


def test_an_undecidable_difference_is_unknown_never_zero() -> None:
    check = _check(_layout([[a + LOG_ZERO, c], [a, c]], [d, d], [e, e]))
    assert check.status == UNKNOWN
    (r,) = check.residuals
    assert r.status == UNKNOWN and r.method == "interval"
    assert r.label == "layer 1: neuron 1 vs neuron 0: dL/dW1[1,0] - dL/dW1[0,0]"
    assert check.witness is None


def test_unknown_then_refuted_pairs_make_the_check_nonzero() -> None:
    net = Network.parse("2-3-1", activation="tanh")
    layout = (
        (((a + LOG_ZERO, c), (a, c), (a, f)), (d, d, d)),
        (((e, e, e),), (g,)),
    )
    check = check_ties(net, layout, [[[1, 0, 2]], [[0]]], _witnesses(layout))
    assert [r.status for r in check.residuals] == [UNKNOWN, NONZERO]
    assert check.status == NONZERO


def test_rejected_points_are_not_witnesses() -> None:
    layout = _layout([[a, c], [a, c]], [d, f], [e, e])
    never = _check(layout, valid=lambda point: False)
    assert never.status == UNKNOWN and never.witness is None
    late = _check(layout, valid=lambda point: point != rational_point(_symbols(layout), 0))
    assert late.residuals[0].method.startswith("witness seed 1;")
    assert late.witness == {s.name: str(v) for s, v in rational_point(_symbols(layout), 1).items()}


def test_abstract_sigma_is_refuted_with_its_witness_form() -> None:
    layout = _layout([[sigma(a), c], [sigma(c), c]], [d, d], [e, e])
    check = _check(layout)
    assert check.status == NONZERO
    tied = _check(_layout([[sigma(a) * 2, c], [sigma(a) + sigma(a), c]], [d, d], [e, e]))
    assert tied.status == ZERO


def test_decide_orders_structural_witness_then_rewrites() -> None:
    layout = _layout([[a, c], [a, c]], [d, f], [e, e])
    w = _witnesses(layout)

    def pick_bias(lay):
        return lay[0][1][1] - lay[0][1][0]

    assert decide(sp.Integer(0), pick_bias, w) == (ZERO, "structural", "0", None)
    status, method, value, seed = decide(f - d, pick_bias, w)
    assert (status, seed) == (NONZERO, 0) and method.startswith("witness seed 0;")
    point = rational_point(_symbols(layout), 0)
    assert sp.Rational(value) == point[f] - point[d]
    zero = sp.Integer(0) * a

    def pick_zero(lay):
        return (lay[0][0][0][0] + 1) ** 2 - lay[0][0][0][0] ** 2 - 2 * lay[0][0][0][0] - 1

    assert decide((a + 1) ** 2 - a**2 - 2 * a - 1 + zero, pick_zero, w) == (
        ZERO,
        "expand",
        "0",
        None,
    )
    undecided = decide(a + LOG_ZERO - a * 1, lambda lay: LOG_ZERO, w)
    assert undecided[0] == UNKNOWN and undecided[3] is None


def test_a_pick_with_symbols_outside_the_witness_is_not_refuted() -> None:
    w = _witnesses(_layout([[a, c], [a, c]], [d, d], [e, e]))
    x = sp.Symbol("x_outside")
    assert w.refute(lambda lay: x) is None
    assert w.refute(lambda lay: lay[0][1][0] - lay[0][1][0]) is None
    assert w.refute(lambda lay: lay[0][1][0])[2] == 0
    # any certified non-zero value refutes, whatever its size
    assert w.refute(lambda lay: sp.Integer(1)) == ("1", "exact", 0)
    assert w.refute(lambda lay: sp.sqrt(2) - 1)[2] == 0


def test_at_most_witness_seeds_points_are_tried() -> None:
    layout = _layout([[a, c], [a, c]], [d, f], [e, e])
    symbols = _symbols(layout)

    def only(seed: int) -> Witnesses:
        return _witnesses(layout, valid=lambda p: p == rational_point(symbols, seed))

    last = WITNESS_SEEDS - 1
    assert only(last).refute(lambda lay: lay[0][1][1] - lay[0][1][0])[2] == last
    assert only(WITNESS_SEEDS).refute(lambda lay: lay[0][1][1] - lay[0][1][0]) is None


def test_the_witness_layout_is_evaluated_once_per_seed() -> None:
    calls = []
    base = _witnesses(_layout([[a, c], [a, c]], [d, d], [e, e]))

    def evaluate(point):
        calls.append(point)
        return base.evaluate(point)

    w = Witnesses(base.symbols, evaluate)
    assert w.layout(3) is w.layout(3)
    assert w.point(3) is w.point(3)
    assert len(calls) == 1


# --- comparing two gradient layouts ---------------------------------------------------


def test_gradient_mismatches_report_a_bias_entry_alone() -> None:
    first = _layout([[a, c], [a, c]], [d, d], [e, e], (g,))
    second = _layout([[a, c], [a, c]], [d, 2 * d], [e, e], (g,))
    assert gradient_mismatches(first, first) == []
    assert gradient_mismatches(first, second) == [((0, "b", 1, None), UNKNOWN, "expand")]
    out = _layout([[a, c], [a, c]], [d, d], [e, e], (2 * g,))
    assert gradient_mismatches(first, out) == [((1, "b", 0, None), UNKNOWN, "expand")]


def test_gradient_mismatches_without_biases_compare_every_weight() -> None:
    first = _layout([[a, c], [a, c]], None, [e, e], None)
    expanded = _layout([[a, c], [a, c]], None, [(e + 1) ** 2 - e**2 - 2 * e - 1 + e, e], None)
    assert gradient_mismatches(first, expanded) == []
    broken = _layout([[a, c], [a, c + LOG_ZERO]], None, [e, 3 * e], None)
    assert gradient_mismatches(first, broken) == [
        ((0, "w", 1, 1), UNKNOWN, "interval"),
        ((1, "w", 0, 1), UNKNOWN, "expand"),
    ]


# --- networks without biases, reduction="sum" -----------------------------------------


def test_a_tie_check_is_an_immutable_value() -> None:
    check = _check(_layout([[a, c], [a, c]], [d, d], [e, e]))
    with pytest.raises(dataclasses.FrozenInstanceError):
        check.witness = {}  # type: ignore[misc]


@pytest.mark.parametrize("kw", [{"bias": False}, {"reduction": "sum"}], ids=str)
def test_tied_init_moves_tied_neurons_identically(kw) -> None:
    net = Network.parse("2-2-1", activation="tanh", loss="mse", **kw)
    proof = prove_identical_updates(net, init="tied")
    assert proof.verdict == "proved"
    assert proof.facts["update"] == {"hidden_incoming": "nonzero", "hidden_outgoing": "nonzero"}
    assert not any("b1" in r.label for r in proof.residuals)


@pytest.mark.parametrize("kw", [{"bias": False}, {"reduction": "sum"}], ids=str)
def test_random_init_is_not_claimed_tied(kw) -> None:
    net = Network.parse("2-2-1", activation="tanh", loss="mse", **kw)
    point = init_point(net, "random")
    xs, ys = data_symbols(net, 1)
    grads, _ = layered_gradients(net, point.params, xs, ys)
    layout = grads
    symbols = _symbols(layout)

    def evaluate(p):
        return tuple(
            (
                tuple(tuple(v.xreplace(p) for v in row) for row in w),
                None if b is None else tuple(v.xreplace(p) for v in b),
            )
            for w, b in layout
        )

    check = check_ties(net, layout, [[[0, 1]], [[0]]], Witnesses(symbols, evaluate))
    assert check.status == NONZERO


def test_sum_reduction_gradients_are_batch_times_mean_ones() -> None:
    """c = 1 for "sum" and 1/B for "mean" (losses docs): never an identically zero gradient."""
    mean = Network.parse("2-2-1", activation="tanh", loss="mse")
    total = Network.parse("2-2-1", activation="tanh", loss="mse", reduction="sum")
    params = init_point(mean, "random").params
    xs, ys = data_symbols(mean, 2)
    g_mean, _ = layered_gradients(mean, params, xs, ys)
    g_sum, _ = layered_gradients(total, params, xs, ys)
    doubled = tuple(
        (tuple(tuple(2 * v for v in row) for row in w), tuple(2 * v for v in b)) for w, b in g_mean
    )
    assert gradient_mismatches(doubled, g_sum) == []
    assert gradient_mismatches(g_mean, g_sum) != []
    for w, b in g_sum:
        for v in (*[v for row in w for v in row], *b):
            assert zero_test(v).status != ZERO
