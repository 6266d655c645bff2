r"""The initialiser catalogue: one signature, explicit randomness.

Every initialiser has the signature (as in JAX)::

    fn(shape, *, rng, **options) -> numpy.ndarray   # float64

with ``rng`` a :class:`numpy.random.Generator` (deterministic schemes accept
``rng=None``). Weight shapes are ``(n_out, n_in)`` as PyTorch stores them, so
``fan_in = shape[1]`` and ``fan_out = shape[0]`` (times the receptive field
``prod(shape[2:])`` for convolution kernels). Names and defaults follow
``torch.nn.init``; the random schemes are one-liners over
:func:`variance_scaling`.

The classic course distributions are first-class presets. "N(0, 0.01)" is
written on slides for two different things:

* ``classic_normal`` reads it as **standard deviation** 0.01 (``0.01 * randn``),
  the reading every API takes because APIs are parametrised by the std;
* ``classic_normal_variance`` reads it as **variance** 0.01, i.e. std 0.1;
* ``classic_uniform`` is :math:`U(-0.01, 0.01)`.

The registry :data:`INITIALIZERS` maps every name and alias (``glorot_*`` for
``xavier_*``, ``he_*`` for ``kaiming_*``) to an :class:`Initializer` record.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from symcheck.errors import InvalidArgument, choices_message
from symcheck.model.network import Network

__all__ = [
    "GAINS",
    "INITIALIZERS",
    "Initializer",
    "calculate_gain",
    "canonical_initializers",
    "constant",
    "eye",
    "fans",
    "get_initializer",
    "initialize",
    "kaiming_normal",
    "kaiming_uniform",
    "lecun_normal",
    "lecun_uniform",
    "normal",
    "orthogonal",
    "truncated_normal",
    "uniform",
    "variance_scaling",
    "xavier_normal",
    "xavier_uniform",
    "zero_hadamard",
    "zeros",
]

NDArray = np.ndarray
Shape = tuple[int, ...]

#: Standard deviation of a standard normal truncated to :math:`[-2, 2]`
#: (used to correct the truncated scheme of :func:`variance_scaling`).
_TRUNC_STD = 0.87962566103423978
_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("normal", "truncated_normal", "uniform")
#: Below this acceptance probability truncated sampling by rejection is refused.
_MIN_ACCEPTANCE = 1e-3


# -- validation helpers -------------------------------------------------------


def _shape(shape: object) -> Shape:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),)
    try:
        dims = tuple(shape)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidArgument(
            f"shape={shape!r} must be a tuple of positive ints, e.g. (n_out, n_in)"
        ) from None
    if not dims or any(
        isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1 for d in dims
    ):
        raise InvalidArgument(
            f"shape={shape!r} must be a non-empty tuple of positive ints, e.g. (n_out, n_in)"
        )
    return tuple(int(d) for d in dims)


def _rng(rng: object) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise InvalidArgument(
            f"rng={rng!r} is not a numpy.random.Generator; pass rng=numpy.random.default_rng(seed)"
        )
    return rng


def _real(name: str, value: object, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidArgument(f"{name}={value!r} must be a real number")
    v = float(value)
    if not math.isfinite(v) or (positive and v <= 0):
        kind = "a positive finite number" if positive else "finite"
        raise InvalidArgument(f"{name}={value!r} must be {kind}")
    return v


def fans(shape: Sequence[int]) -> tuple[int, int]:
    r"""``(fan_in, fan_out)`` of a weight shape, as ``torch.nn.init`` computes them.

    For ``shape = (n_out, n_in, *kernel)``: :math:`\text{fan\_in} = n_{in}\,r`,
    :math:`\text{fan\_out} = n_{out}\,r` with :math:`r = \prod \text{kernel}`.
    """
    dims = _shape(shape)
    if len(dims) < 2:
        raise InvalidArgument(
            f"shape={dims!r} has fewer than 2 dimensions, so fan_in and fan_out are undefined; "
            "use a weight shape (n_out, n_in) or a scheme without fans (normal, uniform, constant)"
        )
    receptive = math.prod(dims[2:])
    return dims[1] * receptive, dims[0] * receptive


# -- gains ---------------------------------------------------------------------


def _leaky_gain(param: float | None) -> float:
    slope = 0.01 if param is None else _real("param", param)
    return math.sqrt(2.0 / (1.0 + slope**2))


def _no_param(value: float) -> Callable[[float | None], float]:
    return lambda param: value


#: Recommended gains :math:`g` by nonlinearity (torch.nn.init.calculate_gain).
GAINS: dict[str, Callable[[float | None], float]] = {
    **{
        name: _no_param(1.0)
        for name in (
            "linear",
            "identity",
            "conv1d",
            "conv2d",
            "conv3d",
            "conv_transpose1d",
            "conv_transpose2d",
            "conv_transpose3d",
            "sigmoid",
        )
    },
    "tanh": _no_param(5.0 / 3.0),
    "relu": _no_param(math.sqrt(2.0)),
    "leaky_relu": _leaky_gain,
    "selu": _no_param(0.75),
}


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    r"""The recommended gain :math:`g` for a nonlinearity (PyTorch's values).

    :math:`g = 1` for linear/identity/convolutions/sigmoid, :math:`5/3` for
    tanh, :math:`\sqrt 2` for ReLU (He et al., 2015), :math:`\sqrt{2/(1+a^2)}`
    for leaky ReLU with negative slope :math:`a` (``param``, default 0.01),
    :math:`3/4` for SELU.
    """
    key = nonlinearity.strip().lower() if isinstance(nonlinearity, str) else nonlinearity
    if key not in GAINS:
        raise InvalidArgument(choices_message("nonlinearity", nonlinearity, GAINS))
    return GAINS[key](param)


# -- elementary distributions --------------------------------------------------


def zeros(shape: Sequence[int], *, rng: np.random.Generator | None = None) -> NDArray:
    r"""All zeros, :math:`W = 0`: the fully symmetric (and degenerate) start."""
    return np.zeros(_shape(shape), dtype=np.float64)


def constant(
    shape: Sequence[int], *, rng: np.random.Generator | None = None, value: float = 0.0
) -> NDArray:
    r"""Every entry equal to ``value``, :math:`W_{ik} = c`; fixed by every permutation."""
    return np.full(_shape(shape), _real("value", value), dtype=np.float64)


def normal(
    shape: Sequence[int], *, rng: np.random.Generator, mean: float = 0.0, std: float = 1.0
) -> NDArray:
    r"""Independent :math:`\mathcal N(\mu, s^2)` entries; ``std`` is :math:`s`, not :math:`s^2`."""
    dims = _shape(shape)
    mu, s = _real("mean", mean), _real("std", std, positive=True)
    return _rng(rng).normal(mu, s, size=dims)


def uniform(
    shape: Sequence[int], *, rng: np.random.Generator, a: float = 0.0, b: float = 1.0
) -> NDArray:
    r"""Independent :math:`U(a, b)` entries (PyTorch's default :math:`U(0, 1)`)."""
    dims = _shape(shape)
    lo, hi = _real("a", a), _real("b", b)
    if not lo < hi:
        raise InvalidArgument(f"uniform bounds a={a!r}, b={b!r} must satisfy a < b")
    return _rng(rng).uniform(lo, hi, size=dims)


def _phi(t: float) -> float:
    return 0.5 * (1.0 + math.erf(t / math.sqrt(2.0)))


def truncated_normal(
    shape: Sequence[int],
    *,
    rng: np.random.Generator,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
) -> NDArray:
    r""":math:`\mathcal N(\mu, s^2)` conditioned on :math:`[a, b]` (absolute bounds, as in PyTorch).

    Sampled exactly by rejection; refused when the acceptance probability
    :math:`\Phi((b-\mu)/s) - \Phi((a-\mu)/s)` is below ``1e-3``.
    """
    dims = _shape(shape)
    gen = _rng(rng)
    mu, s = _real("mean", mean), _real("std", std, positive=True)
    lo, hi = _real("a", a), _real("b", b)
    if not lo < hi:
        raise InvalidArgument(f"truncation bounds a={a!r}, b={b!r} must satisfy a < b")
    acceptance = _phi((hi - mu) / s) - _phi((lo - mu) / s)
    if acceptance < _MIN_ACCEPTANCE:
        raise InvalidArgument(
            f"truncated_normal with mean={mu}, std={s} keeps only {acceptance:.2g} of its mass in "
            f"[{lo}, {hi}]; move the bounds towards the mean or widen them"
        )
    out = gen.normal(mu, s, size=dims)
    bad = (out < lo) | (out > hi)
    while bad.any():
        out[bad] = gen.normal(mu, s, size=int(bad.sum()))
        bad = (out < lo) | (out > hi)
    return out


# -- variance scaling and its specialisations ---------------------------------


def variance_scaling(
    shape: Sequence[int],
    *,
    rng: np.random.Generator,
    scale: float,
    mode: str,
    distribution: str,
) -> NDArray:
    r"""Zero-mean entries with variance :math:`\mathrm{scale}/n`.

    :math:`n` is ``fan_in``, ``fan_out`` or ``fan_avg`` :math:`=(\text{fan\_in}+\text{fan\_out})/2`
    (``mode``). ``distribution`` is ``"normal"`` (:math:`\mathcal N(0, \sigma^2)`),
    ``"uniform"`` (:math:`U(-\sqrt{3}\sigma, \sqrt{3}\sigma)`) or
    ``"truncated_normal"`` (a normal truncated at two of its standard
    deviations, rescaled by 0.8796… so that the variance is still
    :math:`\sigma^2`), with :math:`\sigma^2 = \mathrm{scale}/n`. Glorot & Bengio
    (2010), He et al. (2015) and LeCun et al. (1998) are special cases.
    """
    dims = _shape(shape)
    s = _real("scale", scale, positive=True)
    if mode not in _MODES:
        raise InvalidArgument(choices_message("mode", mode, _MODES))
    if distribution not in _DISTRIBUTIONS:
        raise InvalidArgument(choices_message("distribution", distribution, _DISTRIBUTIONS))
    fan_in, fan_out = fans(dims)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    sigma = math.sqrt(s / n)
    if distribution == "uniform":
        bound = math.sqrt(3.0) * sigma
        return uniform(dims, rng=rng, a=-bound, b=bound)
    if distribution == "normal":
        return normal(dims, rng=rng, std=sigma)
    wide = sigma / _TRUNC_STD
    return truncated_normal(dims, rng=rng, std=wide, a=-2 * wide, b=2 * wide)


def xavier_uniform(shape: Sequence[int], *, rng: np.random.Generator, gain: float = 1.0) -> NDArray:
    r"""Glorot & Bengio (2010): :math:`U(-\beta, \beta)`.

    :math:`\beta = g\sqrt{6/(\text{fan\_in}+\text{fan\_out})}`.
    """
    g = _real("gain", gain, positive=True)
    return variance_scaling(shape, rng=rng, scale=g * g, mode="fan_avg", distribution="uniform")


def xavier_normal(shape: Sequence[int], *, rng: np.random.Generator, gain: float = 1.0) -> NDArray:
    r"""Glorot & Bengio (2010): :math:`\mathcal N(0, \sigma^2)`.

    :math:`\sigma = g\sqrt{2/(\text{fan\_in}+\text{fan\_out})}`.
    """
    g = _real("gain", gain, positive=True)
    return variance_scaling(shape, rng=rng, scale=g * g, mode="fan_avg", distribution="normal")


def _kaiming(
    shape: Sequence[int],
    rng: np.random.Generator,
    a: float,
    mode: str,
    nonlinearity: str,
    dist: str,
) -> NDArray:
    if mode not in ("fan_in", "fan_out"):
        raise InvalidArgument(choices_message("mode", mode, ("fan_in", "fan_out")))
    g = calculate_gain(nonlinearity, a)
    return variance_scaling(shape, rng=rng, scale=g * g, mode=mode, distribution=dist)


def kaiming_uniform(
    shape: Sequence[int],
    *,
    rng: np.random.Generator,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
) -> NDArray:
    r"""He et al. (2015): :math:`U(-\beta, \beta)`, :math:`\beta = g\sqrt{3/\text{fan\_mode}}`.

    :math:`g` = ``calculate_gain(nonlinearity, a)``; the defaults give :math:`g = \sqrt 2`.
    """
    return _kaiming(shape, rng, a, mode, nonlinearity, "uniform")


def kaiming_normal(
    shape: Sequence[int],
    *,
    rng: np.random.Generator,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
) -> NDArray:
    r"""He et al. (2015): :math:`\mathcal N(0, \sigma^2)`, :math:`\sigma = g/\sqrt{n}`.

    :math:`n` is ``fan_in`` or ``fan_out`` (``mode``); :math:`g` =
    ``calculate_gain(nonlinearity, a)``; the defaults give
    :math:`\sigma^2 = 2/\text{fan\_in}`.
    """
    return _kaiming(shape, rng, a, mode, nonlinearity, "normal")


def lecun_uniform(shape: Sequence[int], *, rng: np.random.Generator) -> NDArray:
    r"""LeCun et al. (1998), "Efficient BackProp": :math:`U(-\beta, \beta)`.

    :math:`\beta = \sqrt{3/\text{fan\_in}}`, so the variance is :math:`1/\text{fan\_in}`.
    """
    return variance_scaling(shape, rng=rng, scale=1.0, mode="fan_in", distribution="uniform")


def lecun_normal(shape: Sequence[int], *, rng: np.random.Generator) -> NDArray:
    r"""LeCun et al. (1998): variance :math:`1/\text{fan\_in}`.

    A normal truncated at two standard deviations and rescaled to keep the
    variance, as JAX and Keras draw it.
    """
    return variance_scaling(
        shape, rng=rng, scale=1.0, mode="fan_in", distribution="truncated_normal"
    )


# -- structured schemes --------------------------------------------------------


def orthogonal(shape: Sequence[int], *, rng: np.random.Generator, gain: float = 1.0) -> NDArray:
    r"""Saxe et al. (2014): :math:`g\,Q` with :math:`Q` Haar-distributed (semi-)orthogonal.

    The shape is flattened to ``(shape[0], prod(shape[1:]))``; :math:`Q` comes
    from the QR factorisation :math:`A = QR` of a Gaussian matrix with the
    signs of :math:`\operatorname{diag} R` folded into :math:`Q` (Mezzadri's
    correction), so rows are orthonormal when wide and columns when tall.
    """
    dims = _shape(shape)
    if len(dims) < 2:
        raise InvalidArgument(f"orthogonal needs a shape of 2 or more dimensions, got {dims!r}")
    g = _real("gain", gain, positive=True)
    rows, cols = dims[0], math.prod(dims[1:])
    a = _rng(rng).standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q = q * np.where(np.diag(r) < 0, -1.0, 1.0)
    if rows < cols:
        q = q.T
    return (g * q).reshape(dims)


def eye(shape: Sequence[int], *, rng: np.random.Generator | None = None) -> NDArray:
    r"""The (rectangular) identity :math:`W_{ik} = [i = k]`, as ``torch.nn.init.eye_``."""
    dims = _shape(shape)
    if len(dims) != 2:
        raise InvalidArgument(f"eye needs a 2-dimensional shape (n_out, n_in), got {dims!r}")
    return np.eye(dims[0], dims[1], dtype=np.float64)


def _sylvester(size: int) -> NDArray:
    h = np.ones((1, 1))
    while h.shape[0] < size:
        h = np.block([[h, h], [h, -h]])
    return h


def zero_hadamard(shape: Sequence[int], *, rng: np.random.Generator | None = None) -> NDArray:
    r"""Deterministic Hadamard-based init in the manner of ZerO (Zhao et al., 2022).

    With :math:`H` the Sylvester Hadamard matrix of order :math:`N = 2^m \ge
    \max(n_{out}, n_{in})` (entries :math:`\pm 1`),

    .. math::

        W_{ik} = \frac{s_i\, t_k}{\sqrt{n_{in}}}\, H_{ik}, \qquad
        s_i = 1 - \frac{i}{2\,n_{out}}, \quad t_k = 1 - \frac{k}{2\,n_{in}}
        \in \left(\tfrac12, 1\right].

    ZerO's own algorithm uses (partial) identities for layers that do not
    widen and :math:`2^{-(m-1)/2} I^* H I^*` for those that do; in small
    networks that leaves hidden neurons tied (e.g. 2-4-1: neurons 1 and 3
    both get incoming row :math:`\propto (1,-1)` and outgoing weight 0). Here
    rows of :math:`\pm 1` patterns are equal only when their scales are, so the
    distinct :math:`s_i` make every row distinct and the distinct :math:`t_k`
    every column; every entry is non-zero, so every neuron reaches the loss.
    It uses no randomness and still breaks symmetry.
    """
    dims = _shape(shape)
    if len(dims) != 2:
        raise InvalidArgument(
            f"zero_hadamard needs a 2-dimensional shape (n_out, n_in), got {dims!r}"
        )
    n_out, n_in = dims
    order = 1 << max(n_out - 1, n_in - 1, 0).bit_length()
    h = _sylvester(order)[:n_out, :n_in]
    rows = 1.0 - np.arange(n_out) / (2.0 * n_out)
    cols = 1.0 - np.arange(n_in) / (2.0 * n_in)
    return rows[:, None] * cols[None, :] * h / math.sqrt(n_in)


# -- presets of the classic slide ----------------------------------------------


def _classic_normal(shape: Sequence[int], *, rng: np.random.Generator) -> NDArray:
    """N(0, 0.01) read as standard deviation 0.01 (``0.01 * randn``)."""
    return normal(shape, rng=rng, std=0.01)


def _classic_normal_variance(shape: Sequence[int], *, rng: np.random.Generator) -> NDArray:
    """N(0, 0.01) read as variance 0.01, i.e. standard deviation 0.1."""
    return normal(shape, rng=rng, std=0.1)


def _classic_uniform(shape: Sequence[int], *, rng: np.random.Generator) -> NDArray:
    """U(-0.01, 0.01)."""
    return uniform(shape, rng=rng, a=-0.01, b=0.01)


# -- registry ------------------------------------------------------------------


@dataclass(frozen=True)
class Initializer:
    """One catalogue entry: the function and the facts the theorems need.

    ``has_density``: the entries have a joint density (so ties have
    probability 0, docs/theory.md T4). ``deterministic``: uses no randomness.
    """

    name: str
    fn: Callable[..., NDArray]
    has_density: bool
    deterministic: bool
    summary: str
    aliases: tuple[str, ...] = ()

    def __call__(
        self, shape: Sequence[int], *, rng: np.random.Generator | None = None, **options: Any
    ) -> NDArray:
        """Call ``fn``; ``rng`` is required unless the scheme is deterministic."""
        if not self.deterministic:
            _rng(rng)
        accepted = [
            p.name
            for p in inspect.signature(self.fn).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name != "rng"
        ]
        for key in options:
            if key not in accepted:
                raise InvalidArgument(
                    f"initializer {self.name!r} has no option {key!r}; its options are {accepted!r}"
                )
        return self.fn(shape, rng=rng, **options)


_RECORDS = (
    Initializer("zeros", zeros, False, True, "all zeros (fully symmetric, degenerate)"),
    Initializer("constant", constant, False, True, "every entry = value (fully symmetric)"),
    Initializer("normal", normal, True, False, "N(mean, std^2), std given explicitly"),
    Initializer("uniform", uniform, True, False, "U(a, b)"),
    Initializer("truncated_normal", truncated_normal, True, False, "N(mean, std^2) on [a, b]"),
    Initializer(
        "xavier_uniform",
        xavier_uniform,
        True,
        False,
        "Glorot & Bengio 2010, U(±g·sqrt(6/(fan_in+fan_out)))",
        ("glorot_uniform",),
    ),
    Initializer(
        "xavier_normal",
        xavier_normal,
        True,
        False,
        "Glorot & Bengio 2010, N(0, 2g²/(fan_in+fan_out))",
        ("glorot_normal",),
    ),
    Initializer(
        "kaiming_uniform",
        kaiming_uniform,
        True,
        False,
        "He et al. 2015, U(±g·sqrt(3/fan))",
        ("he_uniform",),
    ),
    Initializer(
        "kaiming_normal",
        kaiming_normal,
        True,
        False,
        "He et al. 2015, N(0, g²/fan)",
        ("he_normal",),
    ),
    Initializer(
        "lecun_uniform", lecun_uniform, True, False, "LeCun et al. 1998, U(±sqrt(3/fan_in))"
    ),
    Initializer("lecun_normal", lecun_normal, True, False, "LeCun et al. 1998, var 1/fan_in"),
    Initializer(
        "orthogonal",
        orthogonal,
        False,
        False,
        "Saxe et al. 2014, gain·Haar (semi-)orthogonal (random, but on a manifold: no density)",
    ),
    Initializer("eye", eye, False, True, "rectangular identity"),
    Initializer(
        "zero_hadamard",
        zero_hadamard,
        False,
        True,
        "deterministic ±1 Hadamard entries, distinct row and column scales (ZerO-style)",
    ),
    Initializer(
        "classic_normal", _classic_normal, True, False, "N(0, 0.01) read as std 0.01 (0.01*randn)"
    ),
    Initializer(
        "classic_normal_variance",
        _classic_normal_variance,
        True,
        False,
        "N(0, 0.01) read as variance 0.01 (std 0.1)",
    ),
    Initializer("classic_uniform", _classic_uniform, True, False, "U(-0.01, 0.01)"),
)

#: Every name and alias mapped to its record (aliases share the record).
INITIALIZERS: dict[str, Initializer] = {
    key: rec for rec in _RECORDS for key in (rec.name, *rec.aliases)
}


def canonical_initializers() -> tuple[Initializer, ...]:
    """Each catalogue entry once (without the alias keys), in catalogue order."""
    return _RECORDS


def get_initializer(name: str | Initializer) -> Initializer:
    """Look up an initialiser by name or alias, e.g. ``"he_normal"``."""
    if isinstance(name, Initializer):
        return name
    key = name.strip().lower() if isinstance(name, str) else None
    if key not in INITIALIZERS:
        raise InvalidArgument(choices_message("initializer", name, INITIALIZERS))
    return INITIALIZERS[key]


def initialize(
    network: Network,
    scheme: str | Initializer,
    *,
    rng: np.random.Generator | None = None,
    bias: float = 0.0,
    **options: Any,
) -> list[tuple[NDArray, NDArray | None]]:
    r"""Parameters ``[(W^1, b^1), ..., (W^L, b^L)]`` for ``network``.

    Every :math:`W^l` (shape ``(n_l, n_{l-1})``) is drawn from ``scheme`` with
    ``options``; biases are the constant ``bias`` (PyTorch-style layers draw
    them, but a constant bias keeps the question about the weights), or
    ``None`` when ``network.bias`` is False.
    """
    if not isinstance(network, Network):
        raise InvalidArgument(f"network={network!r} must be a symcheck.Network")
    init = get_initializer(scheme)
    b0 = _real("bias", bias)
    params: list[tuple[NDArray, NDArray | None]] = []
    for shape in network.shapes:
        w = init(shape, rng=rng, **options)
        b = np.full(shape[0], b0) if network.bias else None
        params.append((w, b))
    return params
