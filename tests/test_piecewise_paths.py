"""Exact comparison of the two gradient paths for ReLU-type activations, by region splitting.

The single-hidden-layer networks (2-2-1, 2-2-2 for cross entropy) at the generic point are
compared for every activation and loss in ``tests/test_symbolic.py``; this file adds two
hidden layers, the symmetric inits, the boundary ``z = 0``, and the refusals: a wrong
gradient is never reported equal, and a form the checker cannot decide is ``unknown``.
"""

from __future__ import annotations

import pytest
import sympy as sp

from symcheck.model.losses import LOSSES
from symcheck.model.network import Network
from symcheck.prove import piecewise
from symcheck.prove.piecewise import piecewise_equal, regions
from symcheck.prove.symbolic import init_point, layered_gradients, plain_gradients, symbolic_forward
from symcheck.prove.witness import rational_point
from symcheck.prove.zerotest import NONZERO, UNKNOWN, ZERO

z, x = sp.symbols("z x")
RELU = sp.Piecewise((z, z > 0), (0, True))
RELU_PRIME = sp.Piecewise((1, z > 0), (0, True))
LEAKY_PRIME = sp.Piecewise((1, z > 0), (sp.Rational(1, 100), True))


def _paths(spec: str, activation: str, loss: str, init: str = "random", **kw: object):
    net = Network.parse(spec, activation=activation, loss=loss, **kw)
    params = init_point(net, init).params
    return net, params, layered_gradients(net, params)[0], plain_gradients(net, params)


def _first_preactivations(net: Network, params) -> tuple[sp.Expr, ...]:
    xs = [[sp.Symbol(f"x0_{k}") for k in range(net.widths[0])]]
    return symbolic_forward(net, params, xs).pre[0][0]


def _mapped(layout, mapping: dict):
    if layout is None:
        return None
    if isinstance(layout, sp.Basic):
        return layout.xreplace(mapping)
    return tuple(_mapped(item, mapping) for item in layout)


def _leaves(layout) -> list[sp.Expr]:
    if isinstance(layout, sp.Basic):
        return [layout]
    return [leaf for item in layout if item is not None for leaf in _leaves(item)]


def _differs_at(a, b, point: dict) -> bool:
    """Some entry of ``a`` differs from ``b`` at ``point`` (evaluated independently)."""
    return any(
        sp.N(u.xreplace(point) - v.xreplace(point), 30) != 0 for u, v in zip(_leaves(a), _leaves(b))
    )


# ----------------------------------------------------------------- agreement


TWO_HIDDEN = {"relu": "1-2-2-{}", "leaky_relu": "1-1-1-{}"}


@pytest.mark.parametrize("activation", sorted(TWO_HIDDEN))
@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_two_hidden_layer_paths_agree_exactly(activation, loss):
    spec = TWO_HIDDEN[activation].format(2 if loss == "cross_entropy" else 1)
    net, _, layered, plain = _paths(spec, activation, loss)
    result = piecewise_equal(layered, plain)
    assert result.status == ZERO, result
    # The first hidden layer alone has 3**width regions: the second layer was split too.
    assert result.regions > 3 ** net.widths[1]


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
@pytest.mark.parametrize(
    ("init", "kw"), [("tied", {}), ("constant", {}), ("random", {"bias": False})]
)
def test_symmetric_and_bias_free_points_agree_exactly(activation, init, kw):
    # constant init (z = c(x0 + x1 + 1)) and no bias (z = W x) have no pre-activation that is
    # solvable for one symbol, so their boundary branches are compared without the constraint.
    _, _, layered, plain = _paths("2-2-1", activation, "mse", init, **kw)
    assert piecewise_equal(layered, plain).status == ZERO


# ----------------------------------------------------------------- regions and the boundary


def test_each_atom_is_split_three_ways_and_the_boundary_is_solved():
    found = list(regions([RELU, RELU_PRIME]))
    assert [r.signs for r in found] == [((z, 1),), ((z, 0),), ((z, -1),)]
    assert [r.exprs for r in found] == [(z, 1), (0, 0), (0, 0)]
    assert found[1].solved == ((z, 0),)


@pytest.mark.parametrize(
    "form",
    [
        sp.Piecewise((z, 0 < z), (0, True)),
        sp.Piecewise((0, -z >= 0), (z, True)),
        sp.Piecewise((z, 2 * z >= 0), (0, True)),
        sp.Piecewise((0, sp.Eq(z, 0)), (z, z > 0), (0, True)),
        sp.Max(0, z),
        z * sp.Heaviside(z),
    ],
)
def test_other_spellings_of_relu_are_equal(form):
    assert piecewise_equal(RELU, form).status == ZERO


def test_relu_derivative_conventions_differ_only_at_the_kink():
    assert piecewise_equal(RELU_PRIME, sp.Heaviside(z, 0)).status == ZERO
    for other in (sp.Piecewise((1, z >= 0), (0, True)), sp.Heaviside(z)):
        result = piecewise_equal(RELU_PRIME, other)
        assert result.status == NONZERO
        assert result.region == ((z, 0),) and result.witness == {z: 0}


def test_relu_prime_one_at_zero_in_one_path_is_refused_though_points_miss_it():
    net, params, layered, plain = _paths("2-2-1", "relu", "mse")
    z0 = _first_preactivations(net, params)[0]
    broken = _mapped(
        layered,
        {sp.Piecewise((1, z0 > 0), (0, True)): sp.Piecewise((1, z0 >= 0), (0, True))},
    )
    symbols = sorted(set().union(*(e.free_symbols for e in _leaves(plain))), key=str)
    # Generic rational points never sit on the kink, so a point check would accept this.
    for seed in range(4):
        assert not _differs_at(broken, plain, rational_point(symbols, seed))
    result = piecewise_equal(broken, plain)
    assert result.status == NONZERO
    assert (sp.expand(z0), 0) in result.region
    assert z0.xreplace(result.witness) == 0
    assert _differs_at(broken, plain, result.witness)


# ----------------------------------------------------------------- refusals


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_one_entry_doubled_is_never_equal(activation, loss):
    spec = "2-2-2" if loss == "cross_entropy" else "2-2-1"
    _, _, layered, plain = _paths(spec, activation, loss)
    (w1, b1), *rest = layered
    broken = ((((2 * w1[0][0], *w1[0][1:]), *w1[1:]), b1), *rest)
    result = piecewise_equal(broken, plain)
    assert result.entry == 0
    if loss == "ell":
        # An abstract loss has no value at a point, so no witness: unknown, not equal.
        assert result.status == UNKNOWN
    else:
        assert result.status == NONZERO
        assert _differs_at(broken, plain, result.witness)


def test_leaky_relu_with_swapped_branches_in_one_path_is_refused():
    net, params, layered, plain = _paths("2-2-1", "leaky_relu", "bce")
    z1 = _first_preactivations(net, params)[1]
    swap = {LEAKY_PRIME.xreplace({z: z1}): sp.Piecewise((sp.Rational(1, 100), z1 > 0), (1, True))}
    result = piecewise_equal(_mapped(layered, swap), plain)
    assert result.status == NONZERO
    assert _differs_at(_mapped(layered, swap), plain, result.witness)


# ----------------------------------------------------------------- unknown, never equal


@pytest.mark.parametrize(
    ("a", "b"),
    [
        # equal, but only a trigonometric identity shows it (the zero test never simplifies)
        (sp.Piecewise((sp.sin(x) ** 2 + sp.cos(x) ** 2, x > 0), (1, True)), sp.Integer(1)),
        # unknown functions: neither provably equal nor evaluable at a witness
        (sp.Piecewise((sp.Function("f")(x), x > 0), (0, True)), sp.Function("g")(x)),
        # forms the region split does not handle
        (sp.Abs(x), sp.Piecewise((x, x > 0), (-x, True))),
        (sp.Piecewise((1, sp.Contains(x, sp.Interval(0, 1))), (0, True)), sp.Integer(1)),
    ],
)
def test_undecidable_comparisons_are_unknown(a, b):
    assert piecewise_equal(a, b).status == UNKNOWN


def test_too_many_regions_is_unknown(monkeypatch):
    monkeypatch.setattr(piecewise, "MAX_REGIONS", 2)
    assert piecewise_equal(RELU, sp.Max(0, z)).status == UNKNOWN


def test_layouts_must_match():
    with pytest.raises(ValueError, match="layouts"):
        piecewise_equal((RELU, None), (RELU, RELU))
