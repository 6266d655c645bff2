r"""Gradient checks for graphs: directional complex step, central differences, exact gradients.

A graph may have thousands of parameter entries, so the numeric references
are taken along directions, as a directional derivative costs one or two
forward passes: for every parameter array :math:`p` and a direction
:math:`d` supported on :math:`p`, the reverse-mode gradient must give
:math:`\langle \nabla_p L, d\rangle = \tfrac{d}{dh} L(\theta + h d)|_{h=0}`.
A wrong entry of :math:`\nabla_p L` is missed only when :math:`d` is
orthogonal to the error, which a random :math:`d` is with probability 0.

* **Complex step** (Squire & Trapp, 1998):
  :math:`\operatorname{Im} L(\theta + i h d)/h` with :math:`h = 10^{-30}`, no
  cancellation, accurate to rounding for a loss that is real-analytic near
  :math:`\theta`. The piecewise kernels (ReLU, leaky ReLU, ELU, max pooling)
  decide their branch on the real part, so off their kinks (a random point
  hits one with probability 0) they are analytic too. An overflow of
  ``exp`` on the way is allowed (a sigmoid's limit 0 or 1 comes out right);
  a NaN fails the check. Allowed error:
  :data:`COMPLEX_STEP_TOLERANCE` times :math:`\max(1, \sum_j |g_j d_j|)`, the
  condition of the inner product.
* **Central differences** with the Richardson error estimate of
  :mod:`symcheck.confirm.gradcheck`: :math:`D(h) = (L(\theta+hd) - L(\theta-hd))/2h`,
  :math:`h = \epsilon^{1/3}`, allowed error :math:`|D(2h) - D(h)| + 2\epsilon_L/h`
  with :math:`\epsilon_L = 64\,\epsilon \max(1, |L|)`; only for graphs
  without kinks (:data:`KINKED`), since a difference may straddle one.
* **Exact gradients**: reverse mode on the SymPy backend at a rational point
  (:func:`exact_gradients`); a float64 gradient agrees when every entry is
  within :data:`EXACT_TOLERANCE` of the exact value, relative to the largest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import sympy as sp

from symcheck.graph.backend import NUMPY, SYMPY, Backend
from symcheck.graph.evaluate import forward, loss_and_gradients
from symcheck.graph.ir import Graph
from symcheck.graph.ops import get_op

__all__ = [
    "COMPLEX_STEP_TOLERANCE",
    "EXACT_TOLERANCE",
    "KINKED",
    "DirectionalCheck",
    "central_difference_checks",
    "complex_step_checks",
    "exact_gap",
    "exact_gradients",
    "has_kinks",
    "loss_value",
    "rationals",
]

COMPLEX_STEP_TOLERANCE = 1e-9
EXACT_TOLERANCE = 1e-10
_EPS = float(np.finfo(np.float64).eps)
_CS_STEP = 1e-30
#: Activation names with a kink, and ops whose derivative jumps.
KINKED = frozenset({"relu", "leaky_relu", "max_pool2d"})


@dataclass(frozen=True)
class DirectionalCheck:
    """One directional check: ``<grad, d>`` against the reference, and the error allowed."""

    parameter: str
    gradient: float
    reference: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return abs(self.gradient - self.reference) <= self.tolerance


def loss_value(
    graph: Graph,
    params: Mapping[str, np.ndarray],
    inputs: Mapping[str, np.ndarray],
    target: np.ndarray,
    *,
    xp: Backend = NUMPY,
) -> object:
    """The loss ``L(params)`` by one forward pass (no backward)."""
    values, _ = forward(graph, params, inputs, xp=xp)
    loss_op = get_op(graph.loss.name if graph.loss is not None else "mse")
    reduction = graph.loss.reduction if graph.loss is not None else "mean"
    value, _ = loss_op.forward()(xp, values[graph.output], target, reduction=reduction)
    return value


def has_kinks(graph: Graph) -> bool:
    """Does the graph use an op or activation from :data:`KINKED`?"""
    for node in graph.nodes:
        name = str(node.attr_dict.get("name", "")).split("(")[0]
        if node.op in KINKED or (node.op == "activation" and name in KINKED):
            return True
    return False


def _along(params: Mapping[str, np.ndarray], name: str, step: object) -> dict[str, np.ndarray]:
    moved = dict(params)
    moved[name] = params[name] + step
    return moved


def complex_step_checks(
    graph: Graph,
    params: Mapping[str, np.ndarray],
    inputs: Mapping[str, np.ndarray],
    target: np.ndarray,
    grads: Mapping[str, np.ndarray],
    directions: Mapping[str, np.ndarray],
) -> list[DirectionalCheck]:
    """One complex-step check per direction (``directions[p]`` has ``p``'s shape)."""
    checks = []
    for name, d in directions.items():
        with np.errstate(over="ignore"):  # exp of a large complex argument: its limit is right
            value = loss_value(graph, _along(params, name, 1j * _CS_STEP * d), inputs, target)
        reference = float(np.imag(value)) / _CS_STEP
        terms = np.asarray(grads[name]) * d
        tolerance = COMPLEX_STEP_TOLERANCE * max(1.0, float(np.sum(np.abs(terms))))
        checks.append(DirectionalCheck(name, float(np.sum(terms)), reference, tolerance))
    return checks


def central_difference_checks(
    graph: Graph,
    params: Mapping[str, np.ndarray],
    inputs: Mapping[str, np.ndarray],
    target: np.ndarray,
    grads: Mapping[str, np.ndarray],
    directions: Mapping[str, np.ndarray],
) -> list[DirectionalCheck]:
    """One central-difference check per direction, with the Richardson error estimate."""
    base = float(loss_value(graph, params, inputs, target))
    rounding = 64 * _EPS * max(1.0, abs(base))
    checks = []
    for name, d in directions.items():
        h = _EPS ** (1 / 3)

        def difference(step: float, name: str = name, d: np.ndarray = d) -> float:
            up = float(loss_value(graph, _along(params, name, step * d), inputs, target))
            down = float(loss_value(graph, _along(params, name, -step * d), inputs, target))
            return (up - down) / (2 * step)

        near, far = difference(h), difference(2 * h)
        tolerance = abs(far - near) + 2 * rounding / h
        gradient = float(np.sum(np.asarray(grads[name]) * d))
        checks.append(DirectionalCheck(name, gradient, near, tolerance))
    return checks


def exact_gradients(
    graph: Graph,
    params: Mapping[str, np.ndarray],
    inputs: Mapping[str, np.ndarray],
    target: np.ndarray,
) -> dict[str, np.ndarray]:
    """Reverse mode on the SymPy backend at the exact binary values of float arrays."""
    exact_params = {k: rationals(v) for k, v in params.items()}
    exact_inputs = {
        k: rationals(v) if np.asarray(v).dtype.kind == "f" else np.asarray(v)
        for k, v in inputs.items()
    }
    _, grads = loss_and_gradients(graph, exact_params, exact_inputs, rationals(target), xp=SYMPY)
    return grads


def rationals(array: object) -> np.ndarray:
    """An object array of the exact binary values (SymPy rationals) of a float array."""
    values = np.asarray(array, dtype=float)
    out = np.empty(values.shape, dtype=object)
    for index, value in np.ndenumerate(values):
        out[index] = SYMPY.const(float(value))
    return out


def exact_gap(grads: Mapping[str, np.ndarray], exact: Mapping[str, np.ndarray]) -> float:
    """``max |g - g_exact|`` relative to ``max(1, max |g_exact|)`` (exact values rounded once)."""
    reference = {
        k: np.vectorize(lambda e: float(sp.N(e, 30)), otypes=[float])(v) for k, v in exact.items()
    }
    scale = max(1.0, *(float(np.max(np.abs(v), initial=0.0)) for v in reference.values()))
    return (
        max(float(np.max(np.abs(np.asarray(grads[k]) - reference[k]), initial=0.0)) for k in grads)
        / scale
    )
