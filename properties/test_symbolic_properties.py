"""Hypothesis properties of the symbolic core over generated small architectures.

1. zero and tied init are always proved (identical updates);
2. random init is never proved (it is refuted with a witness);
3. an untied pair is never proved (the checker refuses a broken case);
4. (issue 3, property 4) the float64 gradients of :mod:`symcheck.measure.numeric` equal
   the exact gradients of :func:`symcheck.gradients` at the same rational point
   within a forward-error bound, and a wrong factor is caught.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import sympy as sp
from hypothesis import assume, given, note
from hypothesis import strategies as st

from symcheck.measure import numeric
from symcheck.model.activations import ACTIVATIONS
from symcheck.model.network import Network
from symcheck.prove.oracle import gradients as exact_gradients
from symcheck.prove.symbolic import init_point
from symcheck.prove.theorems import prove_identical_updates

CONCRETE = sorted(name for name, a in ACTIVATIONS.items() if not a.abstract)
EPS = np.finfo(np.float64).eps


@st.composite
def _architectures(draw, abstract: bool) -> Network:
    hidden = draw(st.lists(st.integers(2, 3), min_size=1, max_size=2))
    acts = CONCRETE + (["sigma"] if abstract else [])
    losses = ["mse", "cross_entropy", "bce"] + (["ell"] if abstract else [])
    loss = draw(st.sampled_from(losses))
    # A softmax over one output is constantly 1: its cross entropy has no gradient at all
    # (tests/test_theorems.py), so cross entropy gets at least two outputs.
    n_out = draw(st.integers(2 if loss == "cross_entropy" else 1, 2))
    widths = (draw(st.integers(1, 3)), *hidden, n_out)
    net = Network(widths, draw(st.sampled_from(acts)), loss)
    note(f"network: {net}")
    return net


def architectures(*, abstract: bool = True) -> st.SearchStrategy[Network]:
    """Small fully connected networks (1-2 hidden layers of width 2-3), any activation and loss."""
    return _architectures(abstract)


@given(net=architectures(), init=st.sampled_from(["zero", "tied"]))
def test_zero_and_tied_init_are_always_proved(net, init):
    assert prove_identical_updates(net, init=init).proved


@given(net=architectures())
def test_random_init_is_never_proved(net):
    proof = prove_identical_updates(net, init="random")
    assert proof.refuted and proof.witness


@given(net=architectures(), data=st.data())
def test_an_untied_pair_is_never_proved(net, data):
    point = init_point(net, "tied")
    layer = data.draw(st.integers(1, net.depth - 1), label="layer")
    w, b = point.params[layer - 1]
    neuron = data.draw(st.integers(1, len(w) - 1), label="neuron")
    rows = list(w)
    rows[neuron] = (sp.Symbol("u_broken"), *rows[neuron][1:])
    params = list(point.params)
    params[layer - 1] = (tuple(rows), b)
    broken = dataclasses.replace(point, params=tuple(params))
    assert prove_identical_updates(net, init=broken).refuted


_DYADIC = st.integers(-16, 16).map(lambda k: k / 8)


@st.composite
def _rational_points(draw, net: Network):
    params = [
        (
            np.array(
                draw(st.lists(st.lists(_DYADIC, min_size=i, max_size=i), min_size=o, max_size=o))
            ),
            np.array(draw(st.lists(_DYADIC, min_size=o, max_size=o))),
        )
        for o, i in net.shapes
    ]
    batch = draw(st.integers(1, 2))
    x = np.array(
        draw(
            st.lists(
                st.lists(_DYADIC, min_size=net.widths[0], max_size=net.widths[0]),
                min_size=batch,
                max_size=batch,
            )
        )
    )
    n_out = net.widths[-1]
    y = np.array(
        draw(
            st.lists(
                st.lists(st.sampled_from([0.0, 0.5, 1.0]), min_size=n_out, max_size=n_out),
                min_size=batch,
                max_size=batch,
            )
        )
    )
    note(f"params={params}, x={x}, y={y}")
    return params, x, y


def _bound(net: Network, exact: list[np.ndarray]) -> float:
    """Forward-error bound :math:`\\gamma_n \\cdot \\text{scale}` for the float64 gradients.

    ``n`` is the length of the longest chain of roundings (per layer a dot product
    of at most ``max width + 1`` terms, one activation and one derivative, forward and
    backward), and the scale is the largest exact gradient entry or 1.
    """
    n = 2 * net.depth * (max(net.widths) + 4)
    scale = max(1.0, *(float(np.max(np.abs(e))) for e in exact))
    return 4 * n * EPS / (1 - n * EPS) * scale


def _flat(grads) -> list[np.ndarray]:
    return [
        np.array([float(v) for row in w for v in row] + [float(v) for v in b]) for w, b in grads
    ]


def _agree(net, exact, num) -> bool:
    bound = _bound(net, exact)
    return all(np.all(np.abs(e - n) <= bound) for e, n in zip(exact, num))


@given(net=architectures(abstract=False), data=st.data())
def test_numeric_gradients_equal_the_exact_ones_within_the_error_bound(net, data):
    params, x, y = data.draw(_rational_points(net))
    exact = _flat(exact_gradients(net, params, x, y, digits=30))
    num = [np.concatenate([w.ravel(), b]) for w, b in numeric.gradients(net, params, x, y)]
    assert _agree(net, exact, num)


@given(net=architectures(abstract=False), data=st.data())
def test_a_numeric_gradient_with_a_wrong_factor_is_caught(net, data):
    params, x, y = data.draw(_rational_points(net))
    exact = _flat(exact_gradients(net, params, x, y, digits=30))
    num = [np.concatenate([w.ravel(), b]) for w, b in numeric.gradients(net, params, x, y)]
    layer = data.draw(st.integers(0, net.depth - 1), label="layer")
    entry = int(np.argmax(np.abs(exact[layer])))
    assume(abs(exact[layer][entry]) > 2 * _bound(net, exact))
    num[layer] = num[layer].copy()
    num[layer][entry] *= 2
    assert not _agree(net, exact, num)
