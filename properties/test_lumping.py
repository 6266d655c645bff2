"""Training keeps the coarsest partition under equivariant optimisers (T3), numerically.

Lumped neurons that are not tied are computed with different rounding (their
rows differ), so the block sums after training agree only up to rounding
(docs/theory.md §4): the checks use the relative tolerance ``64 * steps * eps``,
one rounding budget per step and per block sum, times ``lr / epsilon`` for
Adam and AdamW (which divide rounding noise by ``sqrt(v) + epsilon``; see
``_tolerance``). The breaks that L2-under-Adam and L1 produce are of the
order of the learning rate, far above either budget.
Exact ties have identical rows and columns and are checked the same way.
"""

from __future__ import annotations

import hypothesis.strategies as st
import numpy as np
from hypothesis import example, given, note

from symcheck import Network
from symcheck.confirm.partition_strategies import lumped_params
from symcheck.measure.optim import get_optimizer
from symcheck.measure.train import train
from symcheck.prove.lumping import prove_lumping_preserved
from symcheck.prove.partition import (
    Partition,
    coarsest_equitable_partition,
    is_equitable,
    tie_classes,
)

STEPS = 20
EPS = float(np.finfo(np.float64).eps)
ADAM_EPS = 1e-8  # the default of get_optimizer("adam")


def _tolerance(steps: int, optimizer: str = "sgd", lr: float = 0.01) -> float:
    r"""The rounding budget of ``steps`` steps, relative to the compared quantity.

    64 roundings per step and per block sum. Adam divides by
    :math:`\sqrt{\hat v} + \epsilon`: a gradient difference that is pure
    rounding noise :math:`\delta g` moves an entry by up to
    :math:`\eta\,\delta g/\epsilon`, an amplification of :math:`\eta/\epsilon`
    (here :math:`10^6`) that the budget carries for ``adam`` and ``adamw``.
    """
    amplification = 1 + lr / ADAM_EPS if optimizer in ("adam", "adamw") else 1
    return 64 * steps * EPS * amplification


def _network(params: list) -> Network:
    widths = (params[0][0].shape[1], *(w.shape[0] for w, _ in params))
    return Network(widths, "tanh", "mse")


def _data(seed: int, network: Network, n: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (n, network.widths[0])), rng.uniform(-1, 1, (n, network.widths[-1]))


# Hidden layer 2 sums the tied activations of neurons 4, 5, 6 with the circulant
# weights (0, -1.4375, 1.34375) in three different orders: the pre-activations of
# its neurons 3, 4, 5 differ by rounding, and Adam's 1/epsilon amplifies it.
_W1 = np.array([[0.0]] * 7 + [[1.515625]] * 2)
_B1 = np.array([-0.0234375] * 4 + [2.0] * 3 + [0.46875] * 2)
_CIRCULANT = [[0.0, -1.4375, 1.34375], [1.34375, 0.0, -1.4375], [-1.4375, 1.34375, 0.0]]
_W2 = np.zeros((6, 9))
_W2[0, 7:] = 2.0
_W2[1, 8] = _W2[2, 7] = -1.0
_W2[3:, :4] = 1.5
_W2[3:, 4:7] = _CIRCULANT
_W2[3:, 7:] = 1.78125
_B2 = np.array([0.0, 2.0, 2.0, 1.53125, 1.53125, 1.53125])
_W3 = np.array([[-1.0, 0.984375, 0.984375, 1.375, 1.375, 1.375]])
_ADAM_NOISE_CASE = (
    [(_W1, _B1), (_W2, _B2), (_W3, np.array([-1.4375]))],
    [[0, 0, 0, 0, 1, 1, 1, 2, 2], [0, 1, 1, 2, 2, 2]],
)


@given(
    lumped_params(),
    st.sampled_from(["sgd", "momentum", "adam", "adamw"]),
    st.integers(0, 2**16),
)
@example(_ADAM_NOISE_CASE, "adam", 754)  # found by the thorough profile: Adam amplifies rounding
def test_equivariant_optimisers_keep_the_planted_and_the_coarsest_partition(
    case: tuple, name: str, seed: int
) -> None:
    params, labels = case
    network = _network(params)
    optimizer = get_optimizer(name, lr=0.01)
    coarsest = coarsest_equitable_partition(params)
    note(f"{optimizer} on {network}; coarsest partition at the start {coarsest}")
    final = train(network, params, _data(seed, network), optimizer, STEPS).final
    budget = _tolerance(STEPS, name)
    assert is_equitable(final, Partition.from_labels(labels), tolerance=budget)
    assert is_equitable(final, coarsest, tolerance=budget)


# The concrete example: 1-3-3-1, each hidden layer one lumped block of three.
# W2 = [[1, 0, 0], [0, 1/2, 1/2], [0, 1/2, 1/2]] has equal row and column sums,
# but row 0 and rows 1, 2 hold different values, so an update that depends on
# each entry's own value (L2 inside Adam, L1's sign) moves their sums apart.
# Neurons 1 and 2 of each hidden layer are exact ties (equal rows and columns).
LUMPED = Partition.from_labels([[0, 0, 0], [0, 0, 0]])


def _example() -> list:
    return [
        (np.full((3, 1), 0.5), np.zeros(3)),
        (np.array([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.0, 0.5, 0.5]]), np.zeros(3)),
        (np.full((1, 3), 0.25), np.zeros(1)),
    ]


def _trained(name: str, steps: int = STEPS, **options: float) -> list:
    network = Network((1, 3, 3, 1), "tanh", "mse")
    x = np.array([[1.0], [0.5], [-0.5], [-1.0]])
    y = np.array([[0.5], [0.25], [-0.25], [-0.5]])
    return train(network, _example(), (x, y), get_optimizer(name, lr=0.01, **options), steps).final


def test_example_starts_lumped_with_ties_inside_the_blocks() -> None:
    assert is_equitable(_example(), LUMPED)
    assert tie_classes(_example()).effective_widths == (2, 2)


def test_plain_adam_keeps_the_example_lumped() -> None:
    assert is_equitable(_trained("adam"), LUMPED, tolerance=_tolerance(STEPS))


def test_l2_under_adam_breaks_the_lumping_but_not_the_ties() -> None:
    final = _trained("adam", weight_decay=0.1)
    assert not is_equitable(final, LUMPED, tolerance=1e3 * _tolerance(STEPS))
    ties = Partition.from_labels([[0, 1, 1], [0, 1, 1]])
    assert is_equitable(final, ties, tolerance=_tolerance(STEPS))
    assert tie_classes(final, tolerance=_tolerance(STEPS)).effective_widths == (2, 2)


def test_l1_decay_breaks_the_lumping_but_not_the_ties() -> None:
    final = _trained("sgd", l1=0.05)
    assert not is_equitable(final, LUMPED, tolerance=1e3 * _tolerance(STEPS))
    assert tie_classes(final, tolerance=_tolerance(STEPS)).effective_widths == (2, 2)


def test_the_symbolic_theorem_agrees_with_the_example() -> None:
    # The same network and partition as the numbers above (the refutations for
    # the lumped mode are in tests/test_lumping.py).
    network = Network((1, 3, 3, 1), "tanh", "mse")
    tied = prove_lumping_preserved(
        network, LUMPED, optimizer="adam", weight_decay=True, l1=True, mode="tied"
    )
    assert tied.proved
    assert prove_lumping_preserved(network, LUMPED, optimizer="adam").proved
