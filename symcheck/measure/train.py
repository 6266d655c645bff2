r"""A training loop that records its trajectory, with explicit symmetry breakers.

:func:`train` runs ``steps`` optimiser steps on ``data = (x, y)`` and keeps
the parameters (and the full-data loss) at every recorded step. Without
breakers every step is permutation-equivariant (docs/theory.md T2), so a
symmetric start stays symmetric. The breakers treat neurons differently:

* ``dropout=p``: a fresh per-neuron mask :math:`m \sim \mathrm{Bernoulli}(1-p)/(1-p)`
  of shape ``(batch, n_l)`` multiplies every hidden activation :math:`h^l`
  (inverted dropout, Srivastava et al. 2014);
* ``weight_noise=s``: after each step :math:`\theta \leftarrow \theta + s\,\xi`,
  :math:`\xi \sim \mathcal N(0, I)`;
* ``grad_noise=s``: before each step :math:`g \leftarrow g + s\,\xi`
  (Neelakantan et al. 2015 anneal it; here it is constant);
* ``lr_scale``: one array per layer, shape ``(n_l,)``, multiplying the learning
  rate of neuron :math:`i`'s incoming row :math:`W^l_{i,:}` and bias :math:`b^l_i`.

Dropout and noise need ``rng``, a :class:`numpy.random.Generator`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from symcheck.errors import InvalidArgument
from symcheck.limits import LIMITS
from symcheck.measure import numeric
from symcheck.measure.optim import Optimizer
from symcheck.model.network import Network, require_network
from symcheck.model.tree import map_params

__all__ = ["MAX_STEPS", "Trajectory", "check_training_size", "train"]

NDArray = np.ndarray
Params = list[tuple[NDArray, "NDArray | None"]]

#: Largest number of steps :func:`train` accepts in one call (``LIMITS.steps``).
MAX_STEPS = LIMITS.steps


@dataclass(frozen=True)
class Trajectory:
    """The recorded run: parameters and full-data loss at each recorded step.

    ``params[k]`` are the parameters after ``steps[k]`` updates (``steps[0]``
    is 0, the start); ``losses[k]`` is the loss of ``params[k]`` on the whole
    data set without dropout. ``breakers`` names the breakers that were on.
    """

    network: Network
    steps: tuple[int, ...]
    params: tuple[Params, ...]
    losses: NDArray
    optimizer: str
    breakers: Mapping[str, float]

    def weights(self, layer: int) -> NDArray:
        """:math:`W^l` over time, shape ``(len(steps), n_l, n_{l-1})`` (``layer`` 1-based)."""
        self._check_layer(layer)
        return np.stack([p[layer - 1][0] for p in self.params])

    def biases(self, layer: int) -> NDArray | None:
        """:math:`b^l` over time, shape ``(len(steps), n_l)``, or ``None`` without bias."""
        self._check_layer(layer)
        if not self.network.bias:
            return None
        return np.stack([p[layer - 1][1] for p in self.params])

    @property
    def final(self) -> Params:
        """The parameters after the last step."""
        return self.params[-1]

    def _check_layer(self, layer: int) -> None:
        if isinstance(layer, bool) or layer not in range(1, self.network.depth + 1):
            raise InvalidArgument(
                f"layer={layer!r} is not a weight layer of {self.network.spec}; "
                f"use 1..{self.network.depth}"
            )


def check_training_size(
    network: Network, *, steps: int, samples: int, record_every: int = 1
) -> None:
    """Raise :class:`InvalidArgument` unless a training run is bounded (:mod:`symcheck.limits`).

    Work: ``steps * (samples * parameters + LIMITS.train_step_overhead)`` at most
    ``LIMITS.train_flops`` (the overhead is the Python cost of one step);
    memory of the recorded trajectory: ``(steps // record_every + 2) *
    parameters`` floats at most ``LIMITS.train_floats``.
    """
    params = network.parameter_count
    work = steps * (samples * params + LIMITS.train_step_overhead)
    if work > LIMITS.train_flops:
        raise InvalidArgument(
            f"{steps} steps on {samples} samples of network {network.spec} ({params} "
            f"parameters) cost {work:.3g} multiply-adds, beyond the limit of "
            f"{LIMITS.train_flops:.3g}; use fewer steps or a smaller network"
        )
    floats = (steps // record_every + 2) * params
    if floats > LIMITS.train_floats:
        raise InvalidArgument(
            f"recording {steps // record_every + 1} snapshots of network {network.spec} "
            f"({params} parameters) needs {floats} floats, beyond the limit of "
            f"{LIMITS.train_floats}; use fewer steps, a larger record_every or a smaller network"
        )


def _check_rate(name: str, value: object, *, upper: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidArgument(f"{name}={value!r} must be a real number")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (upper is not None and v >= upper):
        bound = f"in [0, {upper:g})" if upper is not None else "finite and >= 0"
        raise InvalidArgument(f"{name}={value!r} must be {bound}")
    return v


def _lr_scale(network: Network, lr_scale: Sequence | None, params: Params) -> Params | None:
    if lr_scale is None:
        return None
    if len(lr_scale) != network.depth:
        raise InvalidArgument(
            f"lr_scale has {len(lr_scale)} entries, expected {network.depth}: one array of shape "
            "(n_l,) or None per layer"
        )
    out: Params = []
    for layer, (scale, (w, b)) in enumerate(zip(lr_scale, params), start=1):
        s = np.ones(w.shape[0]) if scale is None else np.asarray(scale, dtype=np.float64)
        if s.shape != (w.shape[0],) or not np.all(np.isfinite(s)) or np.any(s < 0):
            raise InvalidArgument(
                f"lr_scale[{layer - 1}] must be None or {w.shape[0]} finite numbers >= 0, "
                f"got shape {s.shape}"
            )
        out.append((s[:, None], s if b is not None else None))
    return out


def _masks(
    network: Network, batch: int, p: float, rng: np.random.Generator
) -> list[NDArray | None]:
    keep = 1.0 - p
    return [
        (rng.random((batch, network.widths[layer])) < keep) / keep
        for layer in network.hidden_layers
    ]


def train(
    network: Network,
    params: Sequence,
    data: tuple[object, object],
    optimizer: Optimizer,
    steps: int,
    *,
    rng: np.random.Generator | None = None,
    batch_size: int | None = None,
    dropout: float = 0.0,
    weight_noise: float = 0.0,
    grad_noise: float = 0.0,
    lr_scale: Sequence | None = None,
    record_every: int = 1,
) -> Trajectory:
    """Train ``network`` from ``params`` and record the trajectory.

    ``data`` is ``(x, y)`` with ``x`` of shape ``(n, n_0)`` and ``y`` of shape
    ``(n, n_L)``. With ``batch_size`` the data are taken in consecutive
    mini-batches, in order (no shuffling: the run is a pure function of its
    arguments and ``rng``). Parameters are recorded every ``record_every``
    steps and after the last one.
    """
    require_network(network)
    if not callable(getattr(optimizer, "step", None)) or not callable(
        getattr(optimizer, "init", None)
    ):
        raise InvalidArgument(
            f"optimizer={optimizer!r} is not an optimiser; build one with "
            "symcheck.measure.optim.get_optimizer(name, lr=...)"
        )
    for name, value, low in (("steps", steps, 0), ("record_every", record_every, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise InvalidArgument(f"{name}={value!r} must be an int >= {low}")
    if steps > MAX_STEPS:
        raise InvalidArgument(f"steps={steps} exceeds the limit of {MAX_STEPS}")
    p_drop = _check_rate("dropout", dropout, upper=1.0)
    w_noise = _check_rate("weight_noise", weight_noise)
    g_noise = _check_rate("grad_noise", grad_noise)
    if (p_drop or w_noise or g_noise) and not isinstance(rng, np.random.Generator):
        raise InvalidArgument(
            f"rng={rng!r}: dropout and noise need a numpy.random.Generator; "
            "pass rng=numpy.random.default_rng(seed)"
        )
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise InvalidArgument(
            f"data is a {type(data).__name__}; it must be a pair (x, y) of arrays"
        )
    x, y = data
    rows = np.shape(x)[0] if np.ndim(x) >= 1 else 1
    check_training_size(network, steps=steps, samples=max(1, rows), record_every=record_every)
    current = numeric.as_params(network, params)
    first_loss = numeric.loss(network, current, x, y)  # validates x and y
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    y = np.asarray(y, dtype=np.float64).reshape(x.shape[0], network.widths[-1])
    n = x.shape[0]
    size = n if batch_size is None else batch_size
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 1 <= size <= n:
        raise InvalidArgument(f"batch_size={batch_size!r} must be an int in [1, {n}]")
    per_epoch = math.ceil(n / size)
    scale = _lr_scale(network, lr_scale, current)
    state = optimizer.init(current)
    recorded_steps, recorded, losses = [0], [current], [float(first_loss)]
    for t in range(1, steps + 1):
        start = ((t - 1) % per_epoch) * size
        xb, yb = x[start : start + size], y[start : start + size]
        masks = _masks(network, xb.shape[0], p_drop, rng) if p_drop else None  # type: ignore[arg-type]
        grads = numeric.gradients(network, current, xb, yb, masks=masks)
        if g_noise:
            grads = map_params(lambda g: g + g_noise * rng.standard_normal(g.shape), grads)  # type: ignore[union-attr]
        current, state = optimizer.step(current, grads, state, lr_scale=scale)
        if w_noise:
            current = map_params(lambda p: p + w_noise * rng.standard_normal(p.shape), current)  # type: ignore[union-attr]
        if t % record_every == 0 or t == steps:
            recorded_steps.append(t)
            recorded.append(current)
            losses.append(float(numeric.loss(network, current, x, y)))
    on = {
        k: v
        for k, v in (
            ("dropout", p_drop),
            ("weight_noise", w_noise),
            ("grad_noise", g_noise),
            ("lr_scale", 1.0 if scale is not None else 0.0),
        )
        if v
    }
    return Trajectory(
        network,
        tuple(recorded_steps),
        tuple(recorded),
        np.asarray(losses),
        str(optimizer),
        MappingProxyType(on),
    )
