r"""Optimisers as pure update functions with explicit state.

``opt = get_optimizer("adam", lr=1e-3)``; ``state = opt.init(params)``;
``params, state = opt.step(params, grads, state)``. ``step`` never mutates
its inputs; ``state = opt.step_inplace(params, grads, state)`` computes the
same update, bit for bit, into the parameter and state arrays (no
allocation, for training loops). ``params`` is a ``[(W, b), ...]`` list or a
name -> array mapping such as a graph's parameters.

Every rule is an entry of :data:`OPTIMIZERS` acting elementwise on each
array, which is what makes it permutation-equivariant (docs/theory.md, T2):
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
:func:`symcheck.measure.train.train`; it imports this module, never the other way round.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from symcheck.errors import InvalidArgument, choices_message
from symcheck.model.tree import leaves, unflatten

__all__ = [
    "COMMON_OPTIONS",
    "OPTIMIZERS",
    "OptState",
    "Optimizer",
    "Rule",
    "get_optimizer",
]

NDArray = np.ndarray
Slots = tuple[NDArray, ...]
#: ``update(g, slots, t, hyper, work) -> direction``: updates the state ``slots`` in
#: place and returns the direction (``g`` itself, or ``work[0]`` filled in); the
#: step is ``-lr * direction``. ``work`` holds two scratch arrays of ``g``'s
#: shape; ``g`` is never written.
UpdateFn = Callable[[NDArray, Slots, int, Mapping[str, float], Slots], NDArray]

#: Options every optimiser accepts, with their neutral defaults.
COMMON_OPTIONS: Mapping[str, float | None] = MappingProxyType(
    {"weight_decay": 0.0, "l1": 0.0, "clip_norm": None, "clip_value": None}
)
#: PyTorch's epsilon in ``clip_grad_norm_``.
_CLIP_EPS = 1e-6
#: Scratch arrays per parameter array (see :data:`UpdateFn`).
_WORK = 2
#: Elements per piece of an in-place update: 256 KiB of float64 per array, so
#: the six arrays of an Adam piece fit a 2 MiB L2 cache (bench/bench_numeric.py).
_CHUNK = 1 << 15


@dataclass(frozen=True)
class Rule:
    """One optimiser recipe: its hyperparameters, state slots and in-place update.

    Every ``update`` evaluates its formula (module docstring) one NumPy ufunc
    at a time, in the order and association written there, with ``out=``
    buffers; so an in-place step rounds exactly as the same expression
    written with temporaries would.
    """

    name: str
    defaults: Mapping[str, float]
    slots: int
    update: UpdateFn
    decoupled_decay: bool
    summary: str


def _sgd(g: NDArray, slots: Slots, t: int, h: Mapping[str, float], work: Slots) -> NDArray:
    return g


def _momentum_buffer(g: NDArray, v: NDArray, mu: float) -> None:
    r""":math:`v \leftarrow \mu v + g`, in place."""
    np.multiply(mu, v, out=v)
    np.add(v, g, out=v)


def _heavy_ball(g: NDArray, slots: Slots, t: int, h: Mapping[str, float], work: Slots) -> NDArray:
    _momentum_buffer(g, slots[0], h["momentum"])
    return slots[0]


def _nesterov(g: NDArray, slots: Slots, t: int, h: Mapping[str, float], work: Slots) -> NDArray:
    (v,), (d, _) = slots, work
    _momentum_buffer(g, v, h["momentum"])
    np.multiply(h["momentum"], v, out=d)
    return np.add(g, d, out=d)


def _decay_squares(g: NDArray, s: NDArray, rate: float, tmp: NDArray) -> None:
    r""":math:`s \leftarrow \rho s + (1-\rho) g^2`, in place."""
    np.multiply(rate, s, out=s)
    np.multiply(g, g, out=tmp)
    np.multiply(1.0 - rate, tmp, out=tmp)
    np.add(s, tmp, out=s)


def _scaled_by_root(num: NDArray, s: NDArray, eps: float, work: Slots) -> NDArray:
    r""":math:`num / (\sqrt{s} + \epsilon)` into ``work[0]`` (``work[1]`` scratch)."""
    d, root = work
    np.sqrt(s, out=root)
    np.add(root, eps, out=root)
    return np.divide(num, root, out=d)


def _adam(g: NDArray, slots: Slots, t: int, h: Mapping[str, float], work: Slots) -> NDArray:
    b1, b2 = h["beta1"], h["beta2"]
    (m, s), (d, root) = slots, work
    np.multiply(b1, m, out=m)
    np.multiply(1.0 - b1, g, out=d)
    np.add(m, d, out=m)
    _decay_squares(g, s, b2, d)
    np.divide(s, 1.0 - b2**t, out=root)  # s_hat
    np.sqrt(root, out=root)
    np.add(root, h["eps"], out=root)
    np.divide(m, 1.0 - b1**t, out=d)  # m_hat
    return np.divide(d, root, out=d)


def _rmsprop(g: NDArray, slots: Slots, t: int, h: Mapping[str, float], work: Slots) -> NDArray:
    _decay_squares(g, slots[0], h["alpha"], work[0])
    return _scaled_by_root(g, slots[0], h["eps"], work)


def _adagrad(g: NDArray, slots: Slots, t: int, h: Mapping[str, float], work: Slots) -> NDArray:
    (s,) = slots
    d = np.multiply(g, g, out=work[0])
    np.add(s, d, out=s)
    return _scaled_by_root(g, s, h["eps"], work)


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
    """Optimiser state: the number of steps taken and one slot tuple per array.

    ``work`` holds scratch arrays that :meth:`Optimizer.step_inplace` reuses
    from step to step (empty until its first call); they carry no state.
    """

    count: int
    slots: tuple[Slots, ...]
    work: tuple[Slots, ...] = field(default=(), compare=False, repr=False)


def _number(name: str, value: object, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidArgument(f"{name}={value!r} must be a real number")
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise InvalidArgument(f"{name}={value!r} must be a finite number >= 0")
    return v


def _pieces(
    p: NDArray, g: NDArray, slots: Slots, work: Slots, lr: float | NDArray
) -> list[tuple[NDArray, NDArray, Slots, Slots, float | NDArray]]:
    """The arrays of one parameter cut into matching flat pieces of :data:`_CHUNK` elements.

    Every rule is elementwise, so updating piece by piece gives the same
    numbers; the pieces are small enough for all the arrays of one to stay
    in the core's cache across the rule's ufunc passes, where whole arrays
    would stream through memory once per pass. Arrays not all C-contiguous
    (a flat view of them would be a copy) are updated whole.
    """
    arrays = (p, g, *slots, *work)
    if p.size <= _CHUNK or not all(a.flags.c_contiguous for a in arrays):
        return [(p, g, slots, work, lr)]
    flat = [a.reshape(-1) for a in arrays]
    if isinstance(lr, np.ndarray):
        lr = np.broadcast_to(lr, p.shape).reshape(-1)
    n = len(slots)
    return [
        (
            flat[0][i : i + _CHUNK],
            flat[1][i : i + _CHUNK],
            tuple(a[i : i + _CHUNK] for a in flat[2 : 2 + n]),
            tuple(a[i : i + _CHUNK] for a in flat[2 + n :]),
            lr[i : i + _CHUNK] if isinstance(lr, np.ndarray) else lr,
        )
        for i in range(0, p.size, _CHUNK)
    ]


def _aligned(params: Sequence | Mapping, other: Sequence | Mapping, what: str) -> object:
    """``other`` in the order of ``params``: by key when both are mappings."""
    if not (isinstance(params, Mapping) and isinstance(other, Mapping)):
        return other
    if other.keys() != params.keys():
        odd = sorted(set(params) ^ set(other))
        raise InvalidArgument(
            f"{what} and params name different arrays ({odd}); give {what} the params' keys"
        )
    return {k: other[k] for k in params}


def _require_writable_float(p: object) -> None:
    if isinstance(p, np.ndarray) and p.flags.writeable and p.dtype.kind in "fco":
        return
    what = type(p).__name__ if not isinstance(p, np.ndarray) else f"a {p.dtype} array"
    if isinstance(p, np.ndarray) and p.flags.writeable is False:
        what += " (read-only)"
    raise InvalidArgument(
        f"step_inplace needs writable float arrays as parameters; got {what}; "
        "pass np.array(p, dtype=float) or use step(), which copies"
    )


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

    def _checked(
        self,
        params: Sequence | Mapping,
        grads: Sequence | Mapping,
        state: OptState,
        lr_scale: object,
    ) -> tuple[list[NDArray], list[NDArray], list]:
        ps, gs = leaves(params), leaves(_aligned(params, grads, "grads"))
        if len(ps) != len(gs) or len(ps) != len(state.slots):
            raise InvalidArgument(
                f"params has {len(ps)} arrays, grads {len(gs)} and the state {len(state.slots)}; "
                "build the state with opt.init(params) and pass gradients in the params layout"
            )
        scales = [None] * len(ps)
        if lr_scale is not None:
            scales = leaves(_aligned(params, lr_scale, "lr_scale"))
        if len(scales) != len(ps):
            raise InvalidArgument(
                f"lr_scale has {len(scales)} arrays, params {len(ps)}; use the params layout"
            )
        return ps, gs, scales

    def _apply(
        self,
        ps: list[NDArray],
        gs: list[NDArray],
        slots: tuple[Slots, ...],
        work: tuple[Slots, ...],
        scales: list,
        t: int,
    ) -> None:
        """Update ``ps`` and ``slots`` in place, step ``t``; ``work`` is scratch."""
        gs = self._preprocess(ps, gs)
        decay = self.rule.decoupled_decay and self.weight_decay
        for whole in zip(ps, gs, slots, work, scales):
            scale = whole[-1]
            rate = self.lr if scale is None else self.lr * np.asarray(scale)
            for p, g, slot, scratch, lr in _pieces(*whole[:-1], rate):
                if decay:  # p - (lr * weight_decay) * p; the direction does not read p
                    np.subtract(p, np.multiply(lr * self.weight_decay, p, out=scratch[0]), out=p)
                direction = self.rule.update(g, slot, t, self.hyper, scratch)
                np.subtract(p, np.multiply(lr, direction, out=scratch[0]), out=p)

    def step(
        self,
        params: Sequence | Mapping,
        grads: Sequence | Mapping,
        state: OptState,
        *,
        lr_scale: Sequence | Mapping | None = None,
    ) -> tuple[list | dict, OptState]:
        r"""One update; returns ``(new_params, new_state)`` and mutates nothing.

        ``params`` is a ``[(W, b), ...]`` list or a name -> array mapping (a
        graph's parameters); ``grads`` and ``lr_scale`` (optional, arrays
        broadcastable to each parameter) have the same layout. ``lr_scale``
        multiplies the learning rate elementwise: the per-neuron learning
        rate breaker. The new arrays have the type of the old step's
        expressions (``p - lr * direction``); the result is the same, bit for
        bit, as :meth:`step_inplace` on copies.
        """
        ps, gs, scales = self._checked(params, grads, state, lr_scale)
        new_ps, new_slots, work = [], [], []
        for p, g, slots, scale in zip(ps, gs, state.slots, scales):
            extra = () if scale is None else (np.asarray(scale),)
            dtype = np.result_type(p, g, *extra, *slots, 0.0)
            new_ps.append(np.array(p, dtype=dtype))
            new_slots.append(tuple(np.array(v, dtype=dtype) for v in slots))
            work.append(tuple(np.empty_like(new_ps[-1]) for _ in range(_WORK)))
        t = state.count + 1
        self._apply(new_ps, gs, tuple(new_slots), tuple(work), scales, t)
        return unflatten(params, new_ps), OptState(t, tuple(new_slots))

    def step_inplace(
        self,
        params: Sequence | Mapping,
        grads: Sequence | Mapping,
        state: OptState,
        *,
        lr_scale: Sequence | Mapping | None = None,
    ) -> OptState:
        """One update written into the arrays of ``params`` and of ``state``; returns the state.

        The same update as :meth:`step`, bit for bit, without allocating: the
        parameter arrays and the state's slot arrays are overwritten (each
        parameter must be a writable floating-point or object array), and the
        scratch arrays are allocated on the first call and kept in the state.
        Use it in training loops that own their arrays; :meth:`step` when the
        old point must survive.
        """
        ps, gs, scales = self._checked(params, grads, state, lr_scale)
        work = state.work
        if not work:
            for p in ps:
                _require_writable_float(p)
            work = tuple(tuple(np.empty_like(p) for _ in range(_WORK)) for p in ps)
        bad = next((i for i, (p, g) in enumerate(zip(ps, gs)) if np.shape(g) != p.shape), None)
        if bad is not None:
            raise InvalidArgument(
                f"grads array {bad} has shape {np.shape(gs[bad])} but its parameter "
                f"{ps[bad].shape}; pass gradients in the params layout"
            )
        t = state.count + 1
        self._apply(ps, gs, state.slots, work, scales, t)
        return OptState(t, state.slots, work)


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
