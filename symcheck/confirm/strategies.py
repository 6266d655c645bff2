r"""Public Hypothesis strategies for networks, data, parameters and optimisers.

Each public function returns a strategy built by a private ``@st.composite``
and ``note()``\ s what it drew, so a failing example reads as a sentence.
Import them in any test suite::

    from hypothesis import given
    from symcheck.measure import numeric
    from symcheck.confirm.strategies import inputs, networks, symmetric_params

    @given(st.data())
    def test_tied_neurons_get_tied_gradients(data):
        net = data.draw(networks(activations=["tanh"]))
        x, y = data.draw(inputs(net))
        params = data.draw(symmetric_params(net))
        grads = numeric.gradients(net, params, x, y)
        ...

Reals are 0 or of magnitude between :data:`MIN_MAGNITUDE` (2**-20) and the
bound: tiny magnitudes test underflow, not symmetry. ``exact=True`` draws
only small dyadic rationals (multiples of 1/4 or 1/8,
batch sizes 1, 2 or 4, dyadic learning rates), so that every floating-point
operation of a forward/backward pass with identity or ReLU activations and
the MSE loss is exact and bitwise comparisons are sound (docs/theory.md §4).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from hypothesis import note
from hypothesis import strategies as st

from symcheck.errors import InvalidArgument, choices_message
from symcheck.measure.optim import OPTIMIZERS, Optimizer, get_optimizer
from symcheck.model.activations import ACTIVATIONS
from symcheck.model.init import canonical_initializers, get_initializer, initialize
from symcheck.model.losses import LOSSES, get_loss
from symcheck.model.network import Network

__all__ = [
    "EXACT_ACTIVATIONS",
    "EXACT_OPTIMIZERS",
    "MIN_MAGNITUDE",
    "SYMMETRIC_KINDS",
    "inputs",
    "networks",
    "optimizers",
    "random_params",
    "symmetric_params",
]

NDArray = np.ndarray
Params = list[tuple[NDArray, "NDArray | None"]]

#: Activations whose forward and backward passes are exact on dyadic data.
EXACT_ACTIVATIONS = ("identity", "relu", "leaky_relu(1/4)")
#: Optimisers whose update is exact on dyadic data (no square roots).
EXACT_OPTIMIZERS = ("sgd", "momentum", "nesterov")
#: Kinds of symmetric start :func:`symmetric_params` draws.
SYMMETRIC_KINDS = ("zero", "constant", "tied")

_CONCRETE_ACTIVATIONS = tuple(sorted(n for n, a in ACTIVATIONS.items() if not a.abstract))
_CONCRETE_LOSSES = tuple(sorted(n for n, v in LOSSES.items() if not v.abstract))


def _dyadic(max_value: float, denominator: int) -> st.SearchStrategy[float]:
    top = int(max_value * denominator)
    return st.integers(-top, top).map(lambda k: k / denominator)


#: Non-zero reals are drawn at least this large in magnitude (about 1e-6), so
#: products along a few layers and derivative checks (a complex step of
#: 1e-30 times a 1e-297 input underflows) stay far from underflow.
MIN_MAGNITUDE = 2.0**-20


def _reals(max_value: float) -> st.SearchStrategy[float]:
    magnitude = st.floats(MIN_MAGNITUDE, max_value, allow_nan=False)
    return st.just(0.0) | magnitude | magnitude.map(lambda v: -v)


def _values(exact: bool, max_value: float) -> st.SearchStrategy[float]:
    return _dyadic(max_value, 8) if exact else _reals(max_value)


@st.composite
def _networks(
    draw: st.DrawFn,
    hidden_layers: tuple[int, int],
    input_widths: tuple[int, int],
    hidden_widths: tuple[int, int],
    output_widths: tuple[int, int],
    activations: Sequence[str],
    losses: Sequence[str],
    bias: bool | None,
    reduction: str | None,
) -> Network:
    n_hidden = draw(st.integers(*hidden_layers))
    loss = draw(st.sampled_from(list(losses)))
    lo, hi = output_widths
    if get_loss(loss).output == "softmax":
        lo = max(lo, 2)  # a softmax over one logit is constant (Network refuses it)
    widths = (
        draw(st.integers(*input_widths)),
        *[draw(st.integers(*hidden_widths)) for _ in range(n_hidden)],
        draw(st.integers(lo, hi)),
    )
    acts = tuple(draw(st.sampled_from(list(activations))) for _ in range(n_hidden))
    net = Network(
        widths,
        acts,
        loss,
        draw(st.booleans()) if bias is None else bias,
        draw(st.sampled_from(["mean", "sum"])) if reduction is None else reduction,
    )
    note(f"network: {net}")
    return net


def networks(
    *,
    hidden_layers: tuple[int, int] = (1, 2),
    input_widths: tuple[int, int] = (1, 3),
    hidden_widths: tuple[int, int] = (2, 3),
    output_widths: tuple[int, int] = (1, 2),
    activations: Sequence[str] | None = None,
    losses: Sequence[str] | None = None,
    bias: bool | None = None,
    reduction: str | None = None,
) -> st.SearchStrategy[Network]:
    """Small fully connected networks within the given bounds (inclusive ranges).

    ``activations`` and ``losses`` default to every concrete (non-abstract)
    entry of the registries; ``bias`` and ``reduction`` are drawn when None.
    A softmax loss is drawn with at least 2 outputs, and left out when
    ``output_widths`` allows only one.
    """
    chosen = tuple(losses or _CONCRETE_LOSSES)
    if output_widths[1] < 2:
        chosen = tuple(name for name in chosen if get_loss(name).output != "softmax")
        if not chosen:
            raise InvalidArgument(
                f"losses={list(losses or ())!r} all need 2 or more outputs but "
                f"output_widths={output_widths!r} allows at most {output_widths[1]}"
            )
    return _networks(
        hidden_layers,
        input_widths,
        hidden_widths,
        output_widths,
        tuple(activations or _CONCRETE_ACTIVATIONS),
        chosen,
        bias,
        reduction,
    )


@st.composite
def _inputs(
    draw: st.DrawFn, network: Network, batch: tuple[int, int], exact: bool, max_value: float
) -> tuple[NDArray, NDArray]:
    if exact:
        sizes = [b for b in (1, 2, 4) if batch[0] <= b <= batch[1]] or [1]
        n = draw(st.sampled_from(sizes))
    else:
        n = draw(st.integers(*batch))
    n_in, n_out = network.widths[0], network.widths[-1]
    values = _dyadic(max_value, 4) if exact else _reals(max_value)
    x = np.array([[draw(values) for _ in range(n_in)] for _ in range(n)], dtype=np.float64)
    output = network.loss_fn.output
    if output == "softmax":
        hot = [draw(st.integers(0, n_out - 1)) for _ in range(n)]
        y = np.eye(n_out)[hot].reshape(n, n_out)
    elif output == "sigmoid":
        unit = (
            st.sampled_from([0.0, 0.5, 1.0])
            if exact
            else st.floats(0.0, 1.0, allow_subnormal=False)
        )
        y = np.array([[draw(unit) for _ in range(n_out)] for _ in range(n)], dtype=np.float64)
    else:
        y = np.array([[draw(values) for _ in range(n_out)] for _ in range(n)], dtype=np.float64)
    note(f"x = {x.tolist()}, y = {y.tolist()}")
    return x, y


def inputs(
    network: Network,
    *,
    batch: tuple[int, int] = (1, 4),
    exact: bool = False,
    max_value: float = 2.0,
) -> st.SearchStrategy[tuple[NDArray, NDArray]]:
    """A data batch ``(x, y)`` for ``network``: ``x`` ``(n, n_0)``, ``y`` ``(n, n_L)``.

    Targets suit the loss: one-hot rows for cross-entropy, values in
    :math:`[0, 1]` for BCE, reals otherwise. ``exact`` draws multiples of 1/4
    and batch sizes 1, 2 or 4 (so the mean's :math:`1/n` is exact).
    """
    return _inputs(network, batch, exact, max_value)


def _groups(draw: st.DrawFn, width: int) -> list[int]:
    """Block labels ``0..k-1`` for ``width`` neurons; neurons 0 and 1 always share one."""
    labels = [draw(st.integers(0, width - 1)) for _ in range(width)]
    if width > 1:
        labels[1] = labels[0]
    compact = {label: i for i, label in enumerate(dict.fromkeys(labels))}
    return [compact[label] for label in labels]


@st.composite
def _symmetric_params(
    draw: st.DrawFn, network: Network, kinds: Sequence[str], exact: bool, max_value: float
) -> Params:
    kind = draw(st.sampled_from(list(kinds)))
    values = _values(exact, max_value)
    widths = network.widths
    if kind == "tied":
        groups = [list(range(widths[0]))]
        groups += [_groups(draw, widths[layer]) for layer in network.hidden_layers]
        groups.append(list(range(widths[-1])))
    else:
        groups = [list(range(widths[0]))]
        groups += [[0] * widths[layer] for layer in network.hidden_layers]
        groups.append(list(range(widths[-1])))
    params: Params = []
    for layer in range(1, network.depth + 1):
        rows, cols = groups[layer], groups[layer - 1]
        if kind == "zero":
            block = np.zeros((max(rows) + 1, max(cols) + 1))
            bias_values = np.zeros(max(rows) + 1)
        elif kind == "constant":
            c = draw(values)
            block = np.full((max(rows) + 1, max(cols) + 1), c)
            bias_values = np.full(max(rows) + 1, draw(values))
        else:
            block = np.array(
                [[draw(values) for _ in range(max(cols) + 1)] for _ in range(max(rows) + 1)]
            )
            bias_values = np.array([draw(values) for _ in range(max(rows) + 1)])
        w = block[np.ix_(rows, cols)]
        b = bias_values[rows] if network.bias else None
        params.append((w, b))
    note(f"symmetric start ({kind}); hidden groups {groups[1:-1]}")
    return params


def symmetric_params(
    network: Network,
    *,
    kinds: Sequence[str] = SYMMETRIC_KINDS,
    exact: bool = False,
    max_value: float = 2.0,
) -> st.SearchStrategy[Params]:
    """Parameters with tied hidden neurons: ``zero``, ``constant`` or ``tied``.

    ``tied`` draws a partition of every hidden layer (neurons 0 and 1 always
    share a block) and arbitrary values constant on blocks:
    :math:`W^l_{ik} = V^l_{g_l(i),\\, g_{l-1}(k)}`, :math:`b^l_i = c^l_{g_l(i)}`,
    so neurons of a block have equal rows, biases and columns (docs/theory.md T1).
    ``constant`` uses one weight and one bias value per layer, ``zero`` zeros.
    """
    bad = [k for k in kinds if k not in SYMMETRIC_KINDS]
    if bad or not kinds:
        raise InvalidArgument(choices_message("kind", bad[0] if bad else None, SYMMETRIC_KINDS))
    return _symmetric_params(network, tuple(kinds), exact, max_value)


_DENSITY_SCHEMES = tuple(r.name for r in canonical_initializers() if r.has_density)


@st.composite
def _random_params(
    draw: st.DrawFn, network: Network, initializers: Sequence[str], bias: float | None
) -> Params:
    name = draw(st.sampled_from(list(initializers)))
    seed = draw(st.integers(0, 2**32 - 1))
    b = draw(_reals(0.5)) if bias is None else bias
    note(f"initializer {name!r}, seed {seed}, bias {b}")
    return initialize(network, name, rng=np.random.default_rng(seed), bias=b)


def random_params(
    network: Network,
    *,
    initializers: Sequence[str] | None = None,
    bias: float | None = 0.0,
) -> st.SearchStrategy[Params]:
    """Parameters from a catalogue initialiser with a seed drawn by Hypothesis.

    ``initializers`` defaults to every scheme with a density (including the
    classic presets); ``bias=None`` draws a constant bias too.
    """
    names = tuple(initializers) if initializers is not None else _DENSITY_SCHEMES
    for name in names:
        get_initializer(name)  # raises with the choices
    return _random_params(network, names, bias)


@st.composite
def _optimizers(draw: st.DrawFn, names: Sequence[str], exact: bool, common: bool) -> Optimizer:
    name = draw(st.sampled_from(list(names)))
    rule = OPTIMIZERS[name]
    dyadic = st.sampled_from([0.5, 0.25, 0.125, 0.0625])
    lr = draw(dyadic) if exact else draw(st.floats(1e-3, 0.5, allow_subnormal=False))
    hyper: dict[str, float] = {}
    if "momentum" in rule.defaults:
        hyper["momentum"] = (
            draw(st.sampled_from([0.5, 0.75]))
            if exact
            else draw(st.floats(0.0, 0.95, allow_subnormal=False))
        )
    if common:
        small = (
            st.sampled_from([0.0, 0.125, 0.0625])
            if exact
            else st.floats(0.0, 0.1, allow_subnormal=False)
        )
        hyper["weight_decay"] = draw(small)
        hyper["l1"] = draw(small)
        hyper["clip_value"] = draw(
            st.none() | (st.sampled_from([0.5, 1.0]) if exact else st.floats(0.1, 2.0))
        )
        if not exact:
            hyper["clip_norm"] = draw(st.none() | st.floats(0.1, 2.0))
    opt = get_optimizer(name, lr=lr, **hyper)
    note(f"optimizer: {opt}")
    return opt


def optimizers(
    *,
    names: Sequence[str] | None = None,
    exact: bool = False,
    common_options: bool = True,
) -> st.SearchStrategy[Optimizer]:
    """Optimisers of the equivariant set (docs/theory.md T2) with drawn hyperparameters.

    ``exact`` restricts to :data:`EXACT_OPTIMIZERS` with dyadic learning rate,
    momentum and decay and no global-norm clipping (a square root);
    ``common_options`` also draws weight decay, L1 decay and clipping.
    """
    chosen = (
        tuple(names) if names is not None else (EXACT_OPTIMIZERS if exact else tuple(OPTIMIZERS))
    )
    for name in chosen:
        get_optimizer(name, lr=0.1)  # raises with the choices
    return _optimizers(chosen, exact, common_options)
