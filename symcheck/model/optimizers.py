r"""Symbolic optimiser steps: one registry of elementwise update rules for the theorems.

Each entry of :data:`SYMBOLIC_OPTIMIZERS` maps one parameter :math:`\theta`,
its gradient :math:`g` and its own state to the new parameter and state, with
symbolic hyper-parameters. It is the exact counterpart of the numeric rules of
:mod:`symcheck.measure.optim` (:math:`\eta` the learning rate, :math:`t` the step
count):

* ``sgd``: :math:`\theta' = \theta - \eta g`;
* ``momentum`` (heavy ball, Polyak 1964, PyTorch form): :math:`v' = \mu v + g`,
  :math:`\theta' = \theta - \eta v'`;
* ``nesterov`` (Sutskever et al. 2013, PyTorch form): :math:`v' = \mu v + g`,
  :math:`\theta' = \theta - \eta (g + \mu v')`;
* ``adam`` (Kingma & Ba 2015): :math:`m' = \beta_1 m + (1-\beta_1) g`,
  :math:`v' = \beta_2 v + (1-\beta_2) g^2`,
  :math:`\theta' = \theta - \eta\, c_1 m' / (\sqrt{c_2 v'} + \epsilon)` with the
  bias corrections :math:`c_1 = 1/(1-\beta_1^t)`, :math:`c_2 = 1/(1-\beta_2^t)`;
* ``adamw`` (Loshchilov & Hutter 2019): Adam whose weight decay is decoupled;
* ``rmsprop`` (Tieleman & Hinton 2012): :math:`v' = \alpha v + (1-\alpha) g^2`,
  :math:`\theta' = \theta - \eta\, g / (\sqrt{v'} + \epsilon)`;
* ``adagrad`` (Duchi et al. 2011): :math:`v' = v + g^2`,
  :math:`\theta' = \theta - \eta\, g / (\sqrt{v'} + \epsilon)`.

A rule reads its hyper-parameters by name from a mapping, :data:`HYPER` by
default (positive symbols, and :math:`c_1, c_2` as the expressions above); a
theorem may pass other values, e.g. free positive symbols for :math:`c_1, c_2`
to cover every step :math:`t` at once. Weight decay follows
:mod:`symcheck.measure.optim`: coupled L2 :math:`g + \lambda\theta`, decoupled
:math:`\theta' - \eta\lambda\theta` (``adamw``), L1
:math:`g + \lambda_1 \operatorname{sign}\theta`.

Because every rule is elementwise, it commutes with permutations of neurons
(docs/theory.md T2): tied inputs give tied outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import sympy as sp

from symcheck.errors import InvalidArgument, choices_message

__all__ = ["HYPER", "SYMBOLIC_OPTIMIZERS", "SymbolicOptimizer", "get_symbolic_optimizer"]

Expr = sp.Expr
State = tuple[Expr, ...]
#: ``direction(g, state, hyper) -> (d, state')``; the step is :math:`\theta' = \theta - \eta d`.
Direction = Callable[[Expr, State, Mapping[str, Expr]], tuple[Expr, State]]

# Positive symbols: a witness gives them positive values, as every optimiser expects.
_SYMBOLS = {
    name: sp.Symbol(name, positive=True)
    for name in ("eta", "mu", "beta1", "beta2", "alpha", "epsilon", "t", "lam", "lam1")
}

#: Hyper-parameter name -> default symbolic value.
HYPER: Mapping[str, Expr] = MappingProxyType(
    {
        **_SYMBOLS,
        "c1": 1 / (1 - _SYMBOLS["beta1"] ** _SYMBOLS["t"]),
        "c2": 1 / (1 - _SYMBOLS["beta2"] ** _SYMBOLS["t"]),
    }
)


@dataclass(frozen=True)
class SymbolicOptimizer:
    r"""One elementwise update rule.

    ``state`` names the state buffers (one slot each), ``hyper`` holds the free
    symbols of the rule under :data:`HYPER`, ``direction`` computes the step
    direction :math:`d` and the new state, ``latex`` shows the rule, and
    ``decoupled`` says that weight decay acts on the weights directly (AdamW)
    rather than through the gradient.
    """

    name: str
    state: tuple[str, ...]
    hyper: tuple[sp.Symbol, ...]
    direction: Direction
    latex: str
    decoupled: bool = False

    def update(
        self,
        theta: Expr,
        g: Expr,
        state: State,
        *,
        hyper: Mapping[str, Expr] = HYPER,
        weight_decay: bool = False,
        l1: bool = False,
    ) -> tuple[Expr, State]:
        r"""One step :math:`(\theta, g, s) \mapsto (\theta', s')`, with optional symbolic decay.

        ``weight_decay`` adds :math:`\lambda\theta` to the gradient, or
        subtracts :math:`\eta\lambda\theta` from :math:`\theta'` when the rule
        is ``decoupled``; ``l1`` adds :math:`\lambda_1 \operatorname{sign}\theta`
        to the gradient.
        """
        grad = g
        if weight_decay and not self.decoupled:
            grad = grad + hyper["lam"] * theta
        if l1:
            grad = grad + hyper["lam1"] * sp.sign(theta)
        d, new_state = self.direction(grad, state, hyper)
        new = theta - hyper["eta"] * d
        if weight_decay and self.decoupled:
            new = new - hyper["eta"] * hyper["lam"] * theta
        return new, new_state


def _sgd(g: Expr, s: State, h: Mapping[str, Expr]) -> tuple[Expr, State]:
    return g, ()


def _momentum(g: Expr, s: State, h: Mapping[str, Expr]) -> tuple[Expr, State]:
    v = h["mu"] * s[0] + g
    return v, (v,)


def _nesterov(g: Expr, s: State, h: Mapping[str, Expr]) -> tuple[Expr, State]:
    v = h["mu"] * s[0] + g
    return g + h["mu"] * v, (v,)


def _adam(g: Expr, s: State, h: Mapping[str, Expr]) -> tuple[Expr, State]:
    m = h["beta1"] * s[0] + (1 - h["beta1"]) * g
    v = h["beta2"] * s[1] + (1 - h["beta2"]) * g**2
    return h["c1"] * m / (sp.sqrt(h["c2"] * v) + h["epsilon"]), (m, v)


def _rmsprop(g: Expr, s: State, h: Mapping[str, Expr]) -> tuple[Expr, State]:
    v = h["alpha"] * s[0] + (1 - h["alpha"]) * g**2
    return g / (sp.sqrt(v) + h["epsilon"]), (v,)


def _adagrad(g: Expr, s: State, h: Mapping[str, Expr]) -> tuple[Expr, State]:
    v = s[0] + g**2
    return g / (sp.sqrt(v) + h["epsilon"]), (v,)


def _symbols(*names: str) -> tuple[sp.Symbol, ...]:
    return tuple(_SYMBOLS[n] for n in names)


_ADAM_HYPER = _symbols("eta", "beta1", "beta2", "epsilon", "t")
_ADAM_LATEX = (
    r"m' = \beta_1 m + (1-\beta_1) g,\quad v' = \beta_2 v + (1-\beta_2) g^2,\quad "
    r"\theta' = \theta - \eta \frac{m'/(1-\beta_1^t)}{\sqrt{v'/(1-\beta_2^t)} + \epsilon}"
)

SYMBOLIC_OPTIMIZERS: Mapping[str, SymbolicOptimizer] = MappingProxyType(
    {
        o.name: o
        for o in (
            SymbolicOptimizer("sgd", (), _symbols("eta"), _sgd, r"\theta' = \theta - \eta g"),
            SymbolicOptimizer(
                "momentum",
                ("v",),
                _symbols("eta", "mu"),
                _momentum,
                r"v' = \mu v + g,\quad \theta' = \theta - \eta v'",
            ),
            SymbolicOptimizer(
                "nesterov",
                ("v",),
                _symbols("eta", "mu"),
                _nesterov,
                r"v' = \mu v + g,\quad \theta' = \theta - \eta (g + \mu v')",
            ),
            SymbolicOptimizer("adam", ("m", "v"), _ADAM_HYPER, _adam, _ADAM_LATEX),
            SymbolicOptimizer(
                "adamw",
                ("m", "v"),
                _ADAM_HYPER,
                _adam,
                _ADAM_LATEX + r",\quad \text{with decay: } \theta' \mathrel{-}= \eta\lambda\theta",
                decoupled=True,
            ),
            SymbolicOptimizer(
                "rmsprop",
                ("v",),
                _symbols("eta", "alpha", "epsilon"),
                _rmsprop,
                r"v' = \alpha v + (1-\alpha) g^2,\quad "
                r"\theta' = \theta - \eta \frac{g}{\sqrt{v'} + \epsilon}",
            ),
            SymbolicOptimizer(
                "adagrad",
                ("v",),
                _symbols("eta", "epsilon"),
                _adagrad,
                r"v' = v + g^2,\quad \theta' = \theta - \eta \frac{g}{\sqrt{v'} + \epsilon}",
            ),
        )
    }
)


def get_symbolic_optimizer(name: str) -> SymbolicOptimizer:
    """Look up a symbolic optimiser by name (one of :data:`SYMBOLIC_OPTIMIZERS`)."""
    if not isinstance(name, str) or name not in SYMBOLIC_OPTIMIZERS:
        raise InvalidArgument(choices_message("optimizer", name, SYMBOLIC_OPTIMIZERS))
    return SYMBOLIC_OPTIMIZERS[name]
