r"""Symbolic optimiser steps (elementwise update rules) for the invariance theorem.

Each entry of :data:`SYMBOLIC_OPTIMIZERS` updates one parameter from its own
gradient and its own state, with symbolic hyper-parameters:

* ``sgd``: :math:`\theta' = \theta - \eta g`;
* ``momentum`` (PyTorch's form): :math:`v' = \mu v + g`, :math:`\theta' = \theta - \eta v'`;
* ``adam`` (Kingma & Ba 2015): :math:`m' = \beta_1 m + (1-\beta_1) g`,
  :math:`v' = \beta_2 v + (1-\beta_2) g^2`,
  :math:`\theta' = \theta - \eta\, \hat m / (\sqrt{\hat v} + \epsilon)` with
  :math:`\hat m = m'/(1-\beta_1^t)`, :math:`\hat v = v'/(1-\beta_2^t)`.

Because every rule is elementwise, it commutes with permutations of neurons
(DESIGN.md T2): tied inputs give tied outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

from symcheck.errors import InvalidArgument, choices_message

__all__ = ["SYMBOLIC_OPTIMIZERS", "SymbolicOptimizer", "get_symbolic_optimizer"]

# Positive symbols: a witness gives them positive values, as every optimiser expects.
_ETA, _MU, _B1, _B2, _EPS, _T = sp.symbols("eta mu beta1 beta2 epsilon t", positive=True)

Update = Callable[[sp.Expr, sp.Expr, tuple[sp.Expr, ...]], tuple[sp.Expr, tuple[sp.Expr, ...]]]


@dataclass(frozen=True)
class SymbolicOptimizer:
    """One elementwise update rule: ``update(theta, g, state) -> (theta', state')``."""

    name: str
    state: tuple[str, ...]
    hyper: tuple[sp.Symbol, ...]
    update: Update
    latex: str


def _sgd(theta: sp.Expr, g: sp.Expr, state: tuple) -> tuple[sp.Expr, tuple]:
    return theta - _ETA * g, ()


def _momentum(theta: sp.Expr, g: sp.Expr, state: tuple) -> tuple[sp.Expr, tuple]:
    v = _MU * state[0] + g
    return theta - _ETA * v, (v,)


def _adam(theta: sp.Expr, g: sp.Expr, state: tuple) -> tuple[sp.Expr, tuple]:
    m = _B1 * state[0] + (1 - _B1) * g
    v = _B2 * state[1] + (1 - _B2) * g**2
    m_hat = m / (1 - _B1**_T)
    v_hat = v / (1 - _B2**_T)
    return theta - _ETA * m_hat / (sp.sqrt(v_hat) + _EPS), (m, v)


SYMBOLIC_OPTIMIZERS: dict[str, SymbolicOptimizer] = {
    o.name: o
    for o in (
        SymbolicOptimizer("sgd", (), (_ETA,), _sgd, r"\theta' = \theta - \eta g"),
        SymbolicOptimizer(
            "momentum",
            ("v",),
            (_ETA, _MU),
            _momentum,
            r"v' = \mu v + g,\quad \theta' = \theta - \eta v'",
        ),
        SymbolicOptimizer(
            "adam",
            ("m", "v"),
            (_ETA, _B1, _B2, _EPS, _T),
            _adam,
            r"m' = \beta_1 m + (1-\beta_1) g,\quad v' = \beta_2 v + (1-\beta_2) g^2,\quad "
            r"\theta' = \theta - \eta \frac{m'/(1-\beta_1^t)}{\sqrt{v'/(1-\beta_2^t)} + \epsilon}",
        ),
    )
}


def get_symbolic_optimizer(name: str) -> SymbolicOptimizer:
    """Look up a symbolic optimiser by name (``sgd``, ``momentum``, ``adam``)."""
    if name not in SYMBOLIC_OPTIMIZERS:
        raise InvalidArgument(choices_message("optimizer", name, SYMBOLIC_OPTIMIZERS))
    return SYMBOLIC_OPTIMIZERS[name]
