r"""Optimisers as pure update functions with explicit state.

``opt = get_optimizer("adam", lr=1e-3)``; ``state = opt.init(params)``;
``params, state = opt.step(params, grads, state)``. ``step`` never mutates
its inputs. Every rule is an entry of :data:`OPTIMIZERS` acting elementwise
on each array, which is what makes it permutation-equivariant (docs/theory.md T2):
permuting neurons permutes parameters, gradients and state alike, so tied
neurons stay tied.

Gradient pre-processing, in the order PyTorch applies it:

1. clipping: global norm :math:`g \leftarrow g\,\min(1, c/(\lVert g\rVert_2 + 10^{-6}))`
   over all arrays together (``clip_norm``), then elementwise
   :math:`g \leftarrow \operatorname{clip}(g, -v, v)` (``clip_value``);
2. coupled L2 decay :math:`g \leftarrow g + \lambda\theta` (``weight_decay``;
   AdamW's is decoupled instead, :math:`\theta \leftarrow \theta - \eta\lambda\theta`,
   Loshchilov & Hutter 2019) and L1 decay
   :math:`g \leftarrow g + \lambda_1 \operatorname{sign}\theta` (``l1``).

The rules (:math:`\eta` the learning rate, :math:`t` the step count from 1):

* ``sgd``: :math:`\theta \leftarrow \theta - \eta g`;
* ``momentum`` (heavy ball, Polyak 1964, PyTorch form): :math:`v \leftarrow \mu v + g`,
  :math:`\theta \leftarrow \theta - \eta v`;
* ``nesterov`` (Sutskever et al. 2013, PyTorch form): :math:`v \leftarrow \mu v + g`,
  :math:`\theta \leftarrow \theta - \eta (g + \mu v)`;
* ``adam`` / ``adamw`` (Kingma & Ba 2015): :math:`m \leftarrow \beta_1 m + (1-\beta_1) g`,
  :math:`s \leftarrow \beta_2 s + (1-\beta_2) g^2`,
  :math:`\theta \leftarrow \theta - \eta\, \hat m / (\sqrt{\hat s} + \epsilon)` with
  :math:`\hat m = m/(1-\beta_1^t)`, :math:`\hat s = s/(1-\beta_2^t)`;
* ``rmsprop`` (Tieleman & Hinton 2012): :math:`s \leftarrow \alpha s + (1-\alpha) g^2`,
  :math:`\theta \leftarrow \theta - \eta\, g/(\sqrt{s} + \epsilon)`;
* ``adagrad`` (Duchi et al. 2011): :math:`s \leftarrow s + g^2`,
  :math:`\theta \leftarrow \theta - \eta\, g/(\sqrt{s} + \epsilon)`.

Defaults are PyTorch's. The training loop with symmetry breakers is
:func:`symcheck.train.train`, re-exported here as :func:`train`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from symcheck.errors import InvalidArgument, choices_message
from symcheck.tree import leaves, unflatten

__all__ = [
    "COMMON_OPTIONS",
    "OPTIMIZERS",
    "OptState",
    "Optimizer",
    "Rule",
    "Trajectory",
    "get_optimizer",
    "train",
]

NDArray = np.ndarray
Slots = tuple[NDArray, ...]
#: ``update(g, slots, t, hyper) -> (direction, new_slots)``; the step is ``-lr * direction``.
UpdateFn = Callable[[NDArray, Slots, int, Mapping[str, float]], tuple[NDArray, Slots]]

#: Options every optimiser accepts, with their neutral defaults.
COMMON_OPTIONS: Mapping[str, float | None] = MappingProxyType(
    {"weight_decay": 0.0, "l1": 0.0, "clip_norm": None, "clip_value": None}
)
#: PyTorch's epsilon in ``clip_grad_norm_``.
_CLIP_EPS = 1e-6


@dataclass(frozen=True)
class Rule:
    """One optimiser recipe: its hyperparameters, state slots and update."""

    name: str
    defaults: Mapping[str, float]
    slots: int
    update: UpdateFn
    decoupled_decay: bool
    summary: str


def _sgd(g: NDArray, slots: Slots, t: int, h: Mapping[str, float]) -> tuple[NDArray, Slots]:
    return g, slots


def _heavy_ball(g: NDArray, slots: Slots, t: int, h: Mapping[str, float]) -> tuple[NDArray, Slots]:
    v = h["momentum"] * slots[0] + g
    return v, (v,)


def _nesterov(g: NDArray, slots: Slots, t: int, h: Mapping[str, float]) -> tuple[NDArray, Slots]:
    v = h["momentum"] * slots[0] + g
    return g + h["momentum"] * v, (v,)


def _adam(g: NDArray, slots: Slots, t: int, h: Mapping[str, float]) -> tuple[NDArray, Slots]:
    b1, b2 = h["beta1"], h["beta2"]
    m = b1 * slots[0] + (1.0 - b1) * g
    s = b2 * slots[1] + (1.0 - b2) * (g * g)
    m_hat = m / (1.0 - b1**t)
    s_hat = s / (1.0 - b2**t)
    return m_hat / (np.sqrt(s_hat) + h["eps"]), (m, s)


def _rmsprop(g: NDArray, slots: Slots, t: int, h: Mapping[str, float]) -> tuple[NDArray, Slots]:
    s = h["alpha"] * slots[0] + (1.0 - h["alpha"]) * (g * g)
    return g / (np.sqrt(s) + h["eps"]), (s,)


def _adagrad(g: NDArray, slots: Slots, t: int, h: Mapping[str, float]) -> tuple[NDArray, Slots]:
    s = slots[0] + g * g
    return g / (np.sqrt(s) + h["eps"]), (s,)


_ADAM_DEFAULTS = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}

#: The registry: name -> rule. Every rule is elementwise, hence equivariant.
OPTIMIZERS: dict[str, Rule] = {
    r.name: r
    for r in (
        Rule("sgd", {}, 0, _sgd, False, "plain gradient descent"),
        Rule("momentum", {"momentum": 0.9}, 1, _heavy_ball, False, "heavy-ball momentum"),
        Rule("nesterov", {"momentum": 0.9}, 1, _nesterov, False, "Nesterov momentum"),
        Rule("adam", _ADAM_DEFAULTS, 2, _adam, False, "Adam, coupled L2 decay"),
        Rule("adamw", {**_ADAM_DEFAULTS, "weight_decay": 0.01}, 2, _adam, True, "AdamW"),
        Rule("rmsprop", {"alpha": 0.99, "eps": 1e-8}, 1, _rmsprop, False, "RMSProp"),
        Rule("adagrad", {"eps": 1e-10}, 1, _adagrad, False, "Adagrad"),
    )
}


@dataclass(frozen=True)
class OptState:
    """Optimiser state: the number of steps taken and one slot tuple per array."""

    count: int
    slots: tuple[Slots, ...]


def _number(name: str, value: object, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidArgument(f"{name}={value!r} must be a real number")
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise InvalidArgument(f"{name}={value!r} must be a finite number >= 0")
    return v


@dataclass(frozen=True)
class Optimizer:
    """An optimiser: a :class:`Rule`, a learning rate and its options.

    Build one with :func:`get_optimizer`. ``hyper`` holds the rule's
    hyperparameters; ``weight_decay``, ``l1``, ``clip_norm`` and
    ``clip_value`` are the common options.
    """

    rule: Rule
    lr: float
    hyper: Mapping[str, float] = field(default_factory=dict)
    weight_decay: float = 0.0
    l1: float = 0.0
    clip_norm: float | None = None
    clip_value: float | None = None

    @property
    def name(self) -> str:
        return self.rule.name

    def __str__(self) -> str:
        opts = {**self.hyper, "weight_decay": self.weight_decay, "l1": self.l1}
        opts.update(
            {
                k: v
                for k, v in (("clip_norm", self.clip_norm), ("clip_value", self.clip_value))
                if v is not None
            }
        )
        shown = ", ".join(f"{k}={v:g}" for k, v in opts.items() if v)
        return f"{self.name}(lr={self.lr:g}{', ' + shown if shown else ''})"

    def init(self, params: Sequence) -> OptState:
        """Zero state for every array of ``params`` (symmetric by construction)."""
        return OptState(
            0,
            tuple(tuple(np.zeros_like(p) for _ in range(self.rule.slots)) for p in leaves(params)),
        )

    def _preprocess(self, ps: list[NDArray], gs: list[NDArray]) -> list[NDArray]:
        if self.clip_norm is not None:
            total = math.sqrt(sum(float(np.sum(g * g)) for g in gs))
            factor = min(1.0, self.clip_norm / (total + _CLIP_EPS))
            gs = [g * factor for g in gs]
        if self.clip_value is not None:
            gs = [np.clip(g, -self.clip_value, self.clip_value) for g in gs]
        if self.weight_decay and not self.rule.decoupled_decay:
            gs = [g + self.weight_decay * p for g, p in zip(gs, ps)]
        if self.l1:
            gs = [g + self.l1 * np.sign(p) for g, p in zip(gs, ps)]
        return gs

    def step(
        self,
        params: Sequence,
        grads: Sequence,
        state: OptState,
        *,
        lr_scale: Sequence | None = None,
    ) -> tuple[list, OptState]:
        r"""One update; returns ``(new_params, new_state)`` and mutates nothing.

        ``lr_scale`` (optional, same ``(W, b)`` layout as ``params``, arrays
        broadcastable to each parameter) multiplies the learning rate
        elementwise: the per-neuron learning rate breaker.
        """
        ps, gs = leaves(params), leaves(grads)
        if len(ps) != len(gs) or len(ps) != len(state.slots):
            raise InvalidArgument(
                f"params has {len(ps)} arrays, grads {len(gs)} and the state {len(state.slots)}; "
                "build the state with opt.init(params) and pass gradients in the params layout"
            )
        scales = leaves(lr_scale) if lr_scale is not None else [None] * len(ps)
        if len(scales) != len(ps):
            raise InvalidArgument(
                f"lr_scale has {len(scales)} arrays, params {len(ps)}; use the (W, b) layout"
            )
        gs = self._preprocess(ps, gs)
        t = state.count + 1
        new_ps: list[NDArray] = []
        new_slots: list[Slots] = []
        for p, g, slots, scale in zip(ps, gs, state.slots, scales):
            direction, slots = self.rule.update(g, slots, t, self.hyper)
            lr = self.lr if scale is None else self.lr * np.asarray(scale)
            if self.rule.decoupled_decay and self.weight_decay:
                p = p - lr * self.weight_decay * p
            new_ps.append(p - lr * direction)
            new_slots.append(slots)
        return unflatten(params, new_ps), OptState(t, tuple(new_slots))


def get_optimizer(name: str, *, lr: float, **hyper: Any) -> Optimizer:
    """Build an optimiser by name, e.g. ``get_optimizer("adam", lr=1e-3, beta1=0.8)``.

    Accepts the rule's hyperparameters (see :data:`OPTIMIZERS`) and the
    common options ``weight_decay``, ``l1``, ``clip_norm``, ``clip_value``.
    """
    key = name.strip().lower() if isinstance(name, str) else None
    if key not in OPTIMIZERS:
        raise InvalidArgument(choices_message("optimizer", name, OPTIMIZERS))
    rule = OPTIMIZERS[key]
    rate = _number("lr", lr)
    if rate == 0:
        raise InvalidArgument(f"lr={lr!r} must be positive")
    # AdamW's default weight decay overrides the common option's neutral default.
    allowed = {k: v for k, v in rule.defaults.items() if k not in COMMON_OPTIONS}
    options = {**COMMON_OPTIONS, **{k: v for k, v in rule.defaults.items() if k in COMMON_OPTIONS}}
    unknown = set(hyper) - set(allowed) - set(options)
    if unknown:
        bad = sorted(unknown)[0]
        raise InvalidArgument(choices_message(f"{rule.name} option", bad, [*allowed, *options]))
    values = {k: _number(k, hyper.get(k, v)) for k, v in allowed.items()}
    for k in ("beta1", "beta2", "alpha", "momentum"):
        if k in values and not values[k] < 1:  # type: ignore[operator]
            raise InvalidArgument(f"{k}={values[k]!r} must be < 1")
    common = {
        k: _number(k, hyper.get(k, v), allow_none=k.startswith("clip")) for k, v in options.items()
    }
    for k in ("clip_norm", "clip_value"):
        if common[k] == 0:
            raise InvalidArgument(f"{k}=0 would zero every gradient; give a positive bound or None")
    return Optimizer(
        rule,
        rate,  # type: ignore[arg-type]
        MappingProxyType(values),  # type: ignore[arg-type]
        common["weight_decay"] or 0.0,
        common["l1"] or 0.0,
        common["clip_norm"],
        common["clip_value"],
    )


from symcheck.train import Trajectory, train  # noqa: E402  (re-export; train imports nothing from here)
