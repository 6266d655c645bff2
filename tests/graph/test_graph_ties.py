"""Tie classes of graph init points, each certified by a permutation that fixes the point."""

from __future__ import annotations

import json

import numpy as np
import pytest
import sympy as sp

from symcheck.errors import InvalidArgument
from symcheck.graph.evaluate import loss_and_gradients
from symcheck.graph.ir import GraphBuilder
from symcheck.graph.points import given_point, init_point
from symcheck.graph.sample import random_inputs, random_parameters, random_target
from symcheck.graph.symmetry import apply_permutation, infer_symmetries
from symcheck.graph.ties import (
    TieCertificate,
    cycle,
    fixes,
    resolve_graph,
    tie_classes,
    ties_text,
    verify_certificate,
)

TINY = "transformer:d_model=4,heads=2,seq=2,layers=1,d_ff=4,batch=1"
GQA = "transformer:d_model=8,heads=4,kv_heads=2,seq=2,layers=1,d_ff=4,batch=1,rope=1"


def _all_tied(space_ties, space) -> bool:
    expected = space.blocks if space.group == "restricted" else (tuple(range(space.size)),)
    return space_ties.classes == tuple(b for b in expected if len(b) > 1)


@pytest.mark.parametrize("model", ["2-3-3-1", "cnn:channels=2,size=2,classes=2", TINY, GQA, "moe"])
@pytest.mark.parametrize("init", ["zero", "constant", "tied"])
def test_symmetric_inits_tie_every_unit_with_certificates_that_verify(
    model: str, init: str
) -> None:
    graph, _ = resolve_graph(model)
    symmetries = infer_symmetries(graph)
    point = init_point(graph, init)
    ties = tie_classes(graph, init=point)
    assert [s.space for s in ties.spaces] == [s.name for s in symmetries.movable]
    for space_ties in ties.spaces:
        assert _all_tied(space_ties, symmetries.space(space_ties.space))
        for cert in space_ties.certificates:
            assert verify_certificate(graph, point, symmetries, cert)


def test_random_init_ties_nothing() -> None:
    ties = tie_classes(TINY, init="random", seed=3)
    assert ties.spaces and all(s.classes == () for s in ties.spaces)


def test_tied_point_is_fixed_by_every_generator_but_random_is_not() -> None:
    graph, _ = resolve_graph(GQA)
    symmetries = infer_symmetries(graph)
    tied, random = init_point(graph, "tied"), init_point(graph, "random")
    for space in symmetries.movable:
        block = space.blocks[0] if space.group == "restricted" else tuple(range(space.size))
        for perm in (cycle(space.size, block[:2]), cycle(space.size, block)):
            assert fixes(graph, tied, space, perm)
            assert not fixes(graph, random, space, perm)
    # more general than a constant: several free symbols per parameter
    assert len(tied.symbols) > len(graph.parameters)


def test_a_stream_to_stream_matrix_keeps_its_diagonal_apart_in_the_tied_point() -> None:
    b = GraphBuilder()
    x = b.input("x", (1, 3))
    s = b.node("linear", [x], ["embed.weight"], shapes=[(4, 3)], output="s")
    h = b.node("linear", [s], ["mix.weight"], shapes=[(4, 4)], output="h")
    r = b.node("add", [s, h], output="r")
    graph = b.build(b.node("linear", [r], ["head.weight"], shapes=[(2, 4)], output="y"), loss="mse")
    point = init_point(graph, "tied")
    mix = point.arrays()["mix.weight"]
    assert len(set(mix.reshape(-1))) == 2
    assert len(set(np.diag(mix))) == 1 and mix[0, 0] != mix[0, 1]
    ties = tie_classes(graph, init=point)
    stream = next(s for s in ties.spaces if s.kind == "stream")
    assert stream.classes == ((0, 1, 2, 3),)


def test_given_parameters_tie_only_the_units_that_agree() -> None:
    graph, _ = resolve_graph("2-3-1")
    params = {p.name: np.zeros(p.shape) for p in graph.parameters}
    params["fc1.bias"][2] = 0.5  # neuron 2 differs
    ties = tie_classes(graph, init=params)
    assert ties.space("fc1").classes == ((0, 1),)
    sym = {k: v.astype(object) for k, v in params.items()}
    sym["fc1.weight"][:, 0] = sp.Symbol("a")  # still tied: same symbol in every row
    assert tie_classes(graph, init=sym).space("fc1").classes == ((0, 1),)


def test_a_forged_certificate_is_rejected() -> None:
    graph, _ = resolve_graph("2-3-1")
    symmetries = infer_symmetries(graph)
    random = given_point(graph, random_parameters(graph, np.random.default_rng(0)))
    zero = init_point(graph, "zero")
    honest = TieCertificate("fc1", (0, 1), cycle(3, (0, 1)))
    assert verify_certificate(graph, zero, symmetries, honest)
    assert not verify_certificate(graph, random, symmetries, honest)  # does not fix the point
    not_cycling = TieCertificate("fc1", (0, 1, 2), cycle(3, (0, 1)))
    assert not verify_certificate(graph, zero, symmetries, not_cycling)
    assert not verify_certificate(graph, zero, symmetries, TieCertificate("fc1", (0, 1), (0, 0, 1)))
    assert not verify_certificate(graph, zero, symmetries, TieCertificate("nope", (0, 1), (1, 0)))


def test_a_certificate_crossing_blocks_of_a_restricted_space_is_rejected() -> None:
    graph, _ = resolve_graph(TINY)
    symmetries = infer_symmetries(graph)
    space = next(s for s in symmetries.movable if s.group == "restricted")
    a, b = space.blocks[0][0], space.blocks[1][0]
    forged = TieCertificate(space.name, (a, b), cycle(space.size, (a, b)))
    assert not verify_certificate(graph, init_point(graph, "zero"), symmetries, forged)


def test_to_json_is_plain_json_with_classes_and_certificates() -> None:
    data = json.loads(json.dumps(tie_classes(TINY, init="zero").to_json()))
    assert set(data) == {"model", "init", "description", "spaces", "lumped"}
    space = data["spaces"][0]
    assert set(space) == {"space", "kind", "size", "group", "classes", "certificates"}
    assert set(space["certificates"][0]) == {"space", "units", "permutation"}
    assert "all 4 units tied" in ties_text(tie_classes(TINY, init="zero"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"init": "ones"}, "init='ones'"),
        ({"init": "zero", "value": "1/2"}, "only init='constant'"),
        ({"init": "constant", "value": "1/0"}, "neither a rational"),
        ({"init": {"fc1.weight": np.zeros((3, 2))}}, "params lacks"),
        (
            {
                "init": {
                    "fc1.weight": np.zeros((2, 2)),
                    "fc1.bias": np.zeros(3),
                    "fc2.weight": np.zeros((1, 3)),
                    "fc2.bias": np.zeros(1),
                }
            },
            "has shape",
        ),
    ],
)
def test_bad_input_is_refused_with_one_clear_message(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(")):
        tie_classes("2-3-1", **kwargs)


def test_a_model_too_large_for_a_point_is_refused_before_any_allocation() -> None:
    with pytest.raises(InvalidArgument, match="init points hold at most"):
        tie_classes("transformer:d_model=4096,heads=8,layers=100", init="zero")


@pytest.mark.parametrize("model", [TINY, GQA, "moe", "cnn:channels=2,size=4,classes=2"])
def test_certified_ties_give_identical_float_gradients_at_a_numeric_tied_point(model: str) -> None:
    graph, _ = resolve_graph(model)
    symmetries = infer_symmetries(graph)
    point = init_point(graph, "tied")
    rng = np.random.default_rng(5)
    numbers = rng.standard_normal(len(point.values))
    params = {name: numbers[code] for name, code in point.codes.items()}
    _, grads = loss_and_gradients(
        graph, params, random_inputs(graph, rng), random_target(graph, rng)
    )
    ties = tie_classes(graph, init=point)
    for space_ties in ties.spaces:
        space = symmetries.space(space_ties.space)
        for cert in space_ties.certificates:
            moved = apply_permutation(graph, grads, space, cert.permutation)
            for name in graph.parameter_names:
                np.testing.assert_allclose(moved[name], grads[name], rtol=1e-10, atol=1e-12)
    # sibling: at a random point the same permutations change the gradients
    random = {p.name: rng.standard_normal(p.shape) for p in graph.parameters}
    _, grads = loss_and_gradients(
        graph, random, random_inputs(graph, rng), random_target(graph, rng)
    )
    cert = ties.spaces[0].certificates[0]
    moved = apply_permutation(graph, grads, symmetries.space(cert.space), cert.permutation)
    assert any(not np.allclose(moved[n], grads[n]) for n in graph.parameter_names)


def _chain_point(w2: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "fc1.weight": np.ones((4, 2)),
        "fc1.bias": np.zeros(4),
        "fc2.weight": w2,
        "fc2.bias": np.zeros(4),
        "fc3.weight": np.ones((1, 4)),
        "fc3.bias": np.zeros(1),
    }


def test_lumped_but_not_tied_blocks_are_reported_on_dense_chains_only() -> None:
    equitable = np.array([[1.0, 2, 3, 4], [4, 3, 2, 1], [2, 2, 3, 3], [3, 3, 2, 2]])
    ties = tie_classes("2-4-4-1", init=_chain_point(equitable))
    assert ties.space("fc2").classes == ()
    assert ties.lumped == {"fc1": ((0, 1, 2, 3),), "fc2": ((0, 1, 2, 3),)}
    assert "lumped but not tied" in ties_text(ties)
    # sibling: unequal row sums are not lumped
    broken = equitable.copy()
    broken[0, 0] = 5.0
    assert tie_classes("2-4-4-1", init=_chain_point(broken)).lumped == {"fc1": (), "fc2": ()}
    # tied blocks are not reported as lumped; symbolic points and non-chains are not covered
    assert tie_classes("2-4-4-1", init="constant", value="1/10").lumped == {"fc1": (), "fc2": ()}
    assert tie_classes("2-4-4-1", init="constant").lumped is None
    assert tie_classes(TINY, init="zero").lumped is None
