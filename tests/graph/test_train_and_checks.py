"""Unit tests of the graph training loop, the gradient checks and the separation helpers."""

from __future__ import annotations

import numpy as np
import pytest

from symcheck.errors import InvalidArgument
from symcheck.graph.confirm import block_pairs, swap_gap, unit_magnitude
from symcheck.graph.gradcheck import has_kinks, loss_value, rationals
from symcheck.graph.ir import GraphBuilder
from symcheck.graph.sample import catalogue_parameters
from symcheck.graph.symmetry import infer_symmetries
from symcheck.graph.train import MAX_STEPS, STATISTICS, steps_of, train
from symcheck.graph.zoo import resolve_model
from symcheck.measure.optim import get_optimizer


def _data(graph):
    rng = np.random.default_rng(0)
    params = {p.name: rng.standard_normal(p.shape) for p in graph.parameters}
    inputs = {i.name: rng.standard_normal(i.shape) for i in graph.inputs}
    return params, inputs, rng.standard_normal(graph.shape(graph.output))


def test_train_lowers_the_loss_and_leaves_its_arguments_alone():
    graph = resolve_model("2-3-1")
    params, inputs, target = _data(graph)
    before = {k: v.copy() for k, v in params.items()}
    run = train(graph, params, inputs, target, optimizer=get_optimizer("sgd", lr=0.05), steps=20)
    assert run.losses[-1] < run.losses[0]
    assert all(np.array_equal(before[k], params[k]) for k in params)
    assert run.state.keys() == set(graph.parameter_names)


def test_train_with_zero_steps_returns_the_start_and_a_zero_state():
    graph = resolve_model("2-3-1")
    params, inputs, target = _data(graph)
    run = train(graph, params, inputs, target, optimizer=get_optimizer("adam", lr=0.1), steps=0)
    assert run.losses == () and all(np.array_equal(run.params[k], params[k]) for k in params)
    assert all(len(s) == 2 and not np.any(s[0]) for s in run.state.values())


def test_batch_norm_statistics_are_not_trained():
    b = GraphBuilder()
    h = b.node("conv2d", [b.input("x", (2, 1, 3, 3))], ["c.weight"], shapes=[(2, 1, 2, 2)])
    roles = ("weight", "bias", "running_mean", "running_var")
    h = b.node("batch_norm", [h], [f"bn.{r}" for r in roles], shapes=[(2,)] * 4)
    graph = b.build(
        b.node("linear", [b.node("flatten", [h])], ["fc.weight"], shapes=[(1, 8)]), loss="mse"
    )
    params, inputs, target = _data(graph)
    params["bn.running_var"] = np.abs(params["bn.running_var"]) + 0.5
    sgd = get_optimizer("momentum", lr=1)
    step = next(steps_of(graph, params, inputs, target, optimizer=sgd, steps=1))
    for name in graph.parameter_names:
        frozen = name.split(".")[-1] in STATISTICS
        assert np.array_equal(step.params[name], params[name]) == frozen, name
        assert (not np.any(step.state[name][0])) == frozen, name


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": -1}, "steps=-1"),
        ({"steps": MAX_STEPS + 1}, f"from 0 to {MAX_STEPS}"),
        ({"steps": True}, "steps=True"),
        ({"optimizer": "sgd"}, "get_optimizer"),
    ],
)
def test_train_refuses_bad_arguments_with_one_clear_message(kwargs, message):
    graph = resolve_model("2-3-1")
    params, inputs, target = _data(graph)
    options = {"optimizer": get_optimizer("sgd", lr=0.1), "steps": 1, **kwargs}
    with pytest.raises(InvalidArgument, match=message):
        train(graph, params, inputs, target, **options)


def test_train_names_missing_parameters():
    graph = resolve_model("2-3-1")
    params, inputs, target = _data(graph)
    del params["fc1.bias"]
    with pytest.raises(InvalidArgument, match=r"fc1\.bias"):
        train(graph, params, inputs, target, optimizer=get_optimizer("sgd", lr=0.1), steps=1)


def test_swap_gap_is_zero_exactly_for_tied_units():
    graph = resolve_model("2-3-1")
    space = infer_symmetries(graph).movable[0]
    params, _, _ = _data(graph)
    assert block_pairs(space) == [(0, 1), (0, 2), (1, 2)]
    for name in ("fc1.weight", "fc1.bias"):
        params[name][1] = params[name][0]
    params["fc2.weight"][:, 1] = params["fc2.weight"][:, 0]
    assert swap_gap(graph, params, space, 0, 1) == 0.0
    assert swap_gap(graph, params, space, 0, 2) > 0.0
    assert unit_magnitude(params, space, 0) == max(
        np.max(np.abs(params["fc1.weight"][0])),
        abs(params["fc1.bias"][0]),
        abs(params["fc2.weight"][0, 0]),
    )


def test_block_pairs_stay_inside_the_blocks_of_a_restricted_space():
    graph = resolve_model("transformer:layers=1,heads=4,kv_heads=2,d_model=8")
    restricted = [s for s in infer_symmetries(graph).movable if s.group == "restricted"]
    assert restricted
    for space in restricted:
        block_of = {u: b for b, block in enumerate(space.blocks) for u in block}
        assert all(block_of[u] == block_of[v] for u, v in block_pairs(space))


def test_catalogue_parameters_draw_weights_and_keep_torch_constants():
    graph = resolve_model("resmlp:blocks=1")
    params = catalogue_parameters(graph, "lecun_normal", np.random.default_rng(0))
    assert np.all(params["b0.norm.weight"] == 1.0) and np.all(params["b0.norm.bias"] == 0.0)
    assert len(np.unique(params["b0.up.weight"])) == params["b0.up.weight"].size
    assert all(np.all(v == 0) for k, v in params.items() if k.endswith(".bias"))
    with pytest.raises(InvalidArgument, match="initializer"):
        catalogue_parameters(graph, "lecun_gaussian", np.random.default_rng(0))


def test_has_kinks_names_relu_and_max_pooling():
    assert has_kinks(resolve_model("mlp:activation=relu"))
    assert has_kinks(resolve_model("mlp:activation=leaky_relu(1/5)"))
    assert not has_kinks(resolve_model("mlp:activation=tanh"))


def test_rationals_are_the_exact_binary_values_and_the_loss_is_one_forward_pass():
    assert [str(r) for r in rationals([0.5, 0.1])] == ["1/2", "3602879701896397/36028797018963968"]
    graph = resolve_model("2-3-1")
    params, inputs, target = _data(graph)
    run = train(graph, params, inputs, target, optimizer=get_optimizer("sgd", lr=0.1), steps=1)
    assert float(loss_value(graph, params, inputs, target)) == run.losses[0]
