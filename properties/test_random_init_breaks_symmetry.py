"""Property 2 (docs/theory.md T4): initialisers with a density break symmetry.

Every catalogue scheme with a density (the classic presets included) gives
pairwise-distinct neurons at t = 0 (compared bitwise: a tie has probability
0), and for analytic activations pairwise-different gradient rows, by more
than the rounding tolerance of the gradient (regime: general floating point).

Non-degeneracy conditions the data are drawn under (each excludes a
measure-zero or structurally degenerate case, not a counterexample):
some input has magnitude >= 1/8 (x = 0 gives zero rows without bias), no
softmax over a single output (its gradient is identically 0), and an output
that is not saturated: some entry of the output delta has magnitude at least
2**-10. (Large initial scales with the square activation drive a softmax to
deltas of 1e-37: the rows still differ, but by less than the rounding of
the O(1) terms they are computed from, so no floating-point check can tell.)
"""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from symcheck.confirm.gradcheck import resolvable_deltas, tied_gradient_rows
from symcheck.confirm.strategies import inputs, networks, random_params, symmetric_params
from symcheck.model.activations import ACTIVATIONS
from symcheck.model.neurons import signatures, tied_pairs

ANALYTIC = tuple(name for name, act in ACTIVATIONS.items() if act.analytic)


@given(st.data())
def test_every_initializer_with_a_density_gives_distinct_neurons_and_gradient_rows(data):
    # Regime: general floating point; distinctness beyond the rounding tolerance.
    net = data.draw(networks(activations=ANALYTIC))
    params = data.draw(random_params(net))
    x, y = data.draw(inputs(net))
    assume(resolvable_deltas(net, params, x, y))
    for layer in net.hidden_layers:
        assert tied_pairs(signatures(params, layer)) == []
    assert tied_gradient_rows(net, params, x, y) == {layer: [] for layer in net.hidden_layers}


@given(st.data())
def test_distinctness_check_rejects_symmetric_starts(data):
    """Sibling: from a tied start the same check finds tied neurons and tied gradient rows."""
    net = data.draw(networks(activations=ANALYTIC))
    params = data.draw(symmetric_params(net))
    x, y = data.draw(inputs(net))
    tied_rows = tied_gradient_rows(net, params, x, y)
    for layer in net.hidden_layers:
        assert (0, 1) in tied_pairs(signatures(params, layer))
        assert (0, 1) in tied_rows[layer]
