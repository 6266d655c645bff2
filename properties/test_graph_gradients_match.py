"""Graph gradients match complex-step and central differences, and the exact gradients.

For a graph of the strategies (every op of the op table) at a random float64
point (weights LeCun normal, as networks are initialised: with standard
normal weights a transformer's attention saturates and the complex step of
a sigmoid meets inf * 0; biases, norm shifts and running means normal / 2),
reverse mode (:mod:`symcheck.graph.evaluate`) must agree with

* the complex step along a random direction in every parameter array
  (every graph: piecewise kernels branch on the real part, and a random
  point is off their kinks with probability 1);
* central differences along the same directions, with the Richardson error
  estimate (graphs without kinks);
* the exact gradient, reverse mode on the SymPy backend at the exact binary
  values of a dyadic point (compositions of the exact ops, whose exact
  gradients are rationals; the other ops are compared with SymPy kernel by
  kernel in ``tests/graph/test_kernels_a.py`` and ``_b.py``).

Tolerances and their reasons: :mod:`symcheck.graph.gradcheck`. The siblings
plant a wrong backward pass (one kernel's gradient scaled by 1 + 2^-10) and
show that each check rejects it.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from symcheck.graph import evaluate, ops
from symcheck.graph.evaluate import loss_and_gradients
from symcheck.graph.gradcheck import (
    EXACT_TOLERANCE,
    central_difference_checks,
    complex_step_checks,
    exact_gap,
    exact_gradients,
    has_kinks,
)
from symcheck.graph.sample import (
    catalogue_parameters,
    parameter_roles,
    random_inputs,
    random_parameters,
    random_target,
)
from symcheck.graph.strategies import dyadic_data, exact_graphs, graphs
from symcheck.graph.zoo import resolve_model

_FEW = max(10, settings.default.max_examples // 4)


def _case(graph, seed):
    rng = np.random.default_rng(seed)
    params = catalogue_parameters(graph, "lecun_normal", rng)
    for name, role in parameter_roles(graph).items():
        if role in ("bias", "running_mean"):  # biases and means random too, running_var 1
            params[name] = rng.standard_normal(params[name].shape) / 2
    inputs, target = random_inputs(graph, rng), random_target(graph, rng)
    directions = {name: rng.standard_normal(graph.shape(name)) for name in graph.parameter_names}
    return params, inputs, target, directions


@settings(max_examples=_FEW)
@given(graphs(), st.integers(0, 2**32 - 1))
def test_gradients_equal_the_complex_step_along_random_directions(graph, seed):
    params, inputs, target, directions = _case(graph, seed)
    _, grads = loss_and_gradients(graph, params, inputs, target)
    checks = complex_step_checks(graph, params, inputs, target, grads, directions)
    assert [c for c in checks if not c.ok] == []


@settings(max_examples=_FEW)
@given(graphs(), st.integers(0, 2**32 - 1))
def test_gradients_agree_with_central_differences_on_smooth_graphs(graph, seed):
    assume(not has_kinks(graph))
    params, inputs, target, directions = _case(graph, seed)
    _, grads = loss_and_gradients(graph, params, inputs, target)
    checks = central_difference_checks(graph, params, inputs, target, grads, directions)
    assert [c for c in checks if not c.ok] == []


@st.composite
def _dyadic_case(draw):
    graph = draw(exact_graphs(), label="graph")
    inputs, target = draw(dyadic_data(graph), label="data")
    seed = draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    params = {n: np.round(p * 8) / 8 for n, p in random_parameters(graph, rng).items()}
    return graph, params, inputs, target


@settings(max_examples=_FEW)
@given(_dyadic_case())
def test_gradients_equal_the_exact_symbolic_gradients(case):
    graph, params, inputs, target = case
    _, grads = loss_and_gradients(graph, params, inputs, target)
    assert exact_gap(grads, exact_gradients(graph, params, inputs, target)) <= EXACT_TOLERANCE


# ---- siblings: a wrong backward pass is rejected by each check


def _scaled_backward(name: str):
    """The op's backward with every gradient scaled by 1 + 2^-10 (a planted fault)."""
    honest = ops.OPS[name].backward()

    def wrong(xp, cache, grad_out, **options):
        parts = honest(xp, cache, grad_out, **options)
        return tuple(None if p is None else p * (1 + 2.0**-10) for p in parts)

    return wrong


# One graph per kind of kernel: dense, conv, norm, attention, experts.
_FAULTS = {
    "linear": "2-3-1",
    "conv2d": "cnn:channels=2,size=2,activation=tanh",
    "layer_norm": "resmlp:blocks=1",
    "sdpa": "transformer:layers=1,seq=2",
    "expert_linear": "moe",
}


@pytest.mark.parametrize("op", sorted(_FAULTS))
def test_each_check_rejects_a_wrong_backward(op, monkeypatch):
    graph = resolve_model(_FAULTS[op])
    params, inputs, target, directions = _case(graph, 0)
    _, honest = loss_and_gradients(graph, params, inputs, target)
    assert all(c.ok for c in complex_step_checks(graph, params, inputs, target, honest, directions))
    wrong_backward = _scaled_backward(op)
    monkeypatch.setattr(
        evaluate, "_kernels", lambda name: _patched(name, op, wrong_backward), raising=True
    )
    _, wrong = loss_and_gradients(graph, params, inputs, target)
    monkeypatch.undo()
    assert not all(
        c.ok for c in complex_step_checks(graph, params, inputs, target, wrong, directions)
    )
    if not has_kinks(graph):
        checks = central_difference_checks(graph, params, inputs, target, wrong, directions)
        assert not all(c.ok for c in checks)


def _patched(name, faulty, backward):
    forward, honest, takes_wanted = _ORIGINAL(name)
    return (forward, backward, takes_wanted) if name == faulty else (forward, honest, takes_wanted)


_ORIGINAL = evaluate._kernels


def test_the_exact_check_rejects_a_wrong_backward(monkeypatch):
    graph = resolve_model("mlp:inputs=2,hidden=3,layers=1,outputs=1,activation=relu")
    params = {
        p.name: np.round(np.linspace(-1, 1, int(np.prod(p.shape))) * 8).reshape(p.shape) / 8
        for p in graph.parameters
    }
    inputs, target = {"x": np.array([[0.5, -1.0], [1.0, 0.25]])}, np.array([[0.5], [-0.5]])
    exact = exact_gradients(graph, params, inputs, target)
    _, honest = loss_and_gradients(graph, params, inputs, target)
    assert exact_gap(honest, exact) == 0.0
    monkeypatch.setattr(
        evaluate, "_kernels", lambda name: _patched(name, "linear", _scaled_backward("linear"))
    )
    _, wrong = loss_and_gradients(graph, params, inputs, target)
    assert exact_gap(wrong, exact) > EXACT_TOLERANCE
