"""A ``Network`` and its lowered graph (symcheck.graph.lower) agree, numerically and in proofs.

* numeric: for random small networks (every concrete activation and loss,
  bias or not, mean or sum), random parameters and data, the graph engine's
  output, loss and every gradient equal the chain engine's up to rounding
  (relative 1e-12 of the larger magnitude);
* symbolic: for random small networks with any activation (``sigma``
  included) and loss (``ell`` included) at zero, constant and tied init, the
  structural proof on the lowered graph proves exactly the classes the chain
  prover claims, and the two never contradict each other.

The siblings in ``tests/graph/test_lower.py`` and
``proofs/test_lower_agreement.py`` show that a wrong lowering and a
contradiction are caught.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from symcheck.confirm.strategies import inputs, networks, random_params
from symcheck.graph.crosscheck import combine, structural_check
from symcheck.graph.evaluate import evaluate, loss_and_gradients
from symcheck.graph.lower import lower
from symcheck.measure import numeric
from symcheck.model.activations import ACTIVATIONS
from symcheck.model.losses import LOSSES
from symcheck.prove.proof import PROVED, REFUTED
from symcheck.prove.symbolic import init_point
from symcheck.prove.theorems import prove_identical_updates

RELATIVE = 1e-12


def _close(a: object, b: object) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    scale = max(1.0, float(np.max(np.abs(b))) if b.size else 1.0)
    return a.shape == b.shape and float(np.max(np.abs(a - b), initial=0.0)) <= RELATIVE * scale


@given(st.data())
def test_the_lowered_graph_computes_what_the_chain_engine_computes(data):
    net = data.draw(networks(hidden_layers=(1, 3)), label="network")
    params = data.draw(random_params(net, bias=None))
    x, y = data.draw(inputs(net, batch=(1, 4)))
    lowering = lower(net, batch=x.shape[0])
    named = lowering.to_graph_params(params)
    assert _close(
        evaluate(lowering.graph, named, {"x": x}), numeric.forward_trace(net, params, x).logits
    )
    value, grads = loss_and_gradients(lowering.graph, named, {"x": x}, y)
    assert _close(value, numeric.loss(net, params, x, y))
    chain = numeric.gradients(net, params, x, y)
    for (gw, gb), layer in zip(chain, range(1, net.depth + 1), strict=True):
        assert _close(grads[lowering.graph_name(f"W{layer}")], gw)
        if gb is not None:
            assert _close(grads[lowering.graph_name(f"b{layer}")], gb)


@given(st.data())
def test_the_structural_proof_and_the_chain_prover_never_contradict(data):
    net = data.draw(
        networks(
            hidden_layers=(1, 2),
            hidden_widths=(1, 3),
            activations=sorted(ACTIVATIONS),
            losses=sorted(LOSSES),
        ),
        label="network",
    )
    init = data.draw(st.sampled_from(["zero", "constant", "tied"]), label="init")
    chain = prove_identical_updates(net, init=init, cross_check=False)
    check = structural_check(net, init=init)
    claimed = tuple(
        tuple(c for c in layer if len(c) > 1) for layer in init_point(net, init).classes
    )
    assert check.verdict == PROVED
    assert check.classes == claimed
    assert chain.verdict != REFUTED
    assert combine(chain.verdict, init_point(net, init).classes, check) == chain.verdict
