"""Property 7: the deterministic Hadamard-based init breaks symmetry.

``zero_hadamard`` uses no randomness, yet every hidden layer has pairwise
distinct neurons (bitwise) and, for analytic activations, pairwise different
gradient rows beyond the rounding tolerance (general floating point).
Non-degeneracy conditions, as for random inits: some input of magnitude
>= 1/8, no softmax over a single output, an unsaturated output (some delta
entry >= 2**-10).
"""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from symcheck.confirm.gradcheck import resolvable_deltas, tied_gradient_rows
from symcheck.confirm.strategies import inputs, networks
from symcheck.model.activations import ACTIVATIONS
from symcheck.model.init import initialize
from symcheck.model.neurons import signatures, tied_pairs

ANALYTIC = tuple(name for name, act in ACTIVATIONS.items() if act.analytic)


@given(st.data())
def test_hadamard_init_gives_distinct_neurons_and_gradient_rows_without_randomness(data):
    # Regime: neurons bitwise; gradient rows beyond the ulp-scaled tolerance.
    net = data.draw(networks(activations=ANALYTIC, hidden_widths=(2, 4)))
    params = initialize(net, "zero_hadamard")
    x, y = data.draw(inputs(net))
    assume(resolvable_deltas(net, params, x, y))
    for layer in net.hidden_layers:
        assert tied_pairs(signatures(params, layer)) == []
    assert tied_gradient_rows(net, params, x, y) == {layer: [] for layer in net.hidden_layers}


@given(st.data())
def test_distinct_rows_check_rejects_the_deterministic_eye_init(data):
    """Sibling: ``eye`` is deterministic too but ties neurons 1 and 2 in n-3-1 (n=1):
    both have incoming row 0 and outgoing weight 0."""
    net = data.draw(
        networks(
            activations=ANALYTIC,
            hidden_layers=(1, 1),
            input_widths=(1, 1),
            hidden_widths=(3, 4),
            output_widths=(1, 1),
        )
    )
    params = initialize(net, "eye")
    assert (1, 2) in tied_pairs(signatures(params, 1))
