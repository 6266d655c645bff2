r"""Training a graph: reverse-mode gradients and a step of an optimiser, ``steps`` times.

:func:`train` runs full-batch training on fixed data: at step :math:`t`
the gradient :math:`g_t = \nabla L(\theta_{t-1})` comes from
:func:`symcheck.graph.evaluate.loss_and_gradients` and the update from an
optimiser of :data:`symcheck.measure.optim.OPTIMIZERS` acting on the name -> array
mapping of the parameters (every rule there is elementwise, hence
equivariant: docs/theory.md, T2). It returns the parameters and the
optimiser state (one slot tuple per parameter) after the last step, so a
caller can check that a tie survives in both. Statistics (:data:`STATISTICS`)
are not trained; their optimiser state is reported as zeros.

No work is done for a bad argument: the step count is checked against
:data:`MAX_STEPS` first, and the arrays against the graph by the
interpreter.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from symcheck.errors import InvalidArgument
from symcheck.graph.evaluate import loss_and_gradients
from symcheck.graph.ir import Graph
from symcheck.graph.sample import parameter_roles
from symcheck.measure.optim import Optimizer

__all__ = ["MAX_STEPS", "STATISTICS", "GraphRun", "Step", "steps_of", "train"]

#: Parameter roles that are statistics, not trained (PyTorch keeps them as buffers):
#: batch norm's running mean and variance stay as they are.
STATISTICS = frozenset({"running_mean", "running_var"})
#: Largest number of steps one :func:`train` call takes (each is a forward and a backward pass).
MAX_STEPS = 10_000


@dataclass(frozen=True)
class GraphRun:
    """Parameters and optimiser state after ``steps`` steps, and the loss before each step."""

    params: dict[str, np.ndarray]
    state: dict[str, tuple[np.ndarray, ...]]
    losses: tuple[float, ...]
    steps: int


@dataclass(frozen=True)
class Step:
    """Step ``t`` (from 1): the gradient at the old parameters, the new parameters and state."""

    t: int
    before: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]
    params: dict[str, np.ndarray]
    state: dict[str, tuple[np.ndarray, ...]]
    loss: float


def steps_of(
    graph: Graph,
    params: Mapping[str, np.ndarray],
    inputs: Mapping[str, np.ndarray],
    target: np.ndarray,
    *,
    optimizer: Optimizer,
    steps: int,
) -> Iterator[Step]:
    """The steps of :func:`train` one at a time (a caller may stop early)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or not 0 <= steps <= MAX_STEPS:
        raise InvalidArgument(
            f"steps={steps!r} is not valid; give an int from 0 to {MAX_STEPS} (one forward and "
            "backward pass each)"
        )
    if not isinstance(optimizer, Optimizer):
        raise InvalidArgument(
            f"optimizer={optimizer!r} is not an Optimizer; build one with "
            "symcheck.measure.optim.get_optimizer(name, lr=...)"
        )
    missing = sorted(set(graph.parameter_names) - set(params))
    if missing:
        raise InvalidArgument(f"params lacks {missing}; give every parameter of the graph")
    current = {name: np.asarray(params[name], dtype=float) for name in graph.parameter_names}
    roles = parameter_roles(graph)
    trained = [name for name in graph.parameter_names if roles[name] not in STATISTICS]
    state = optimizer.init({name: current[name] for name in trained})
    for t in range(1, steps + 1):
        loss, grads = loss_and_gradients(graph, current, inputs, target)
        before = current
        moved, state = optimizer.step(
            {name: current[name] for name in trained},
            {name: grads[name] for name in trained},
            state,
        )
        current = {**current, **moved}
        slots = dict(zip(trained, state.slots, strict=True))
        count = optimizer.rule.slots
        full = {
            name: slots[name] if name in slots else (np.zeros_like(current[name]),) * count
            for name in graph.parameter_names
        }
        yield Step(t, before, grads, dict(current), full, float(loss))


def train(
    graph: Graph,
    params: Mapping[str, np.ndarray],
    inputs: Mapping[str, np.ndarray],
    target: np.ndarray,
    *,
    optimizer: Optimizer,
    steps: int,
) -> GraphRun:
    """``steps`` full-batch steps of ``optimizer`` from ``params`` (not modified)."""
    last, losses = None, []
    for step in steps_of(graph, params, inputs, target, optimizer=optimizer, steps=steps):
        last = step
        losses.append(step.loss)
    if last is not None:
        return GraphRun(last.params, last.state, tuple(losses), steps)
    current = {name: np.asarray(params[name], dtype=float) for name in graph.parameter_names}
    state = dict(zip(graph.parameter_names, optimizer.init(current).slots, strict=True))
    return GraphRun(current, state, (), 0)
