"""The theorems on small networks, and their refusal of deliberately broken points."""

from __future__ import annotations

import dataclasses

import pytest
import sympy as sp

from symcheck.errors import InvalidArgument
from symcheck.model.network import Network
from symcheck.model.optimizers import SYMBOLIC_OPTIMIZERS
from symcheck.prove.symbolic import init_point
from symcheck.prove.theorems import prove_identical_updates, prove_preserved, prove_symmetry_breaks


def _untie(point, layer=1, neuron=1, source=0):
    """The same point with one incoming weight of ``neuron`` replaced by a fresh symbol."""
    w, b = point.params[layer - 1]
    row = list(w[neuron])
    row[source] = sp.Symbol("u_broken")
    rows = list(w)
    rows[neuron] = tuple(row)
    params = list(point.params)
    params[layer - 1] = (tuple(rows), b)
    return dataclasses.replace(point, params=tuple(params), name="tied, one weight untied")


def test_zero_init_with_tanh_gives_no_hidden_update_at_all():
    proof = prove_identical_updates(Network.parse("2-2-1", activation="tanh"), init="zero")
    assert proof.proved
    assert proof.facts["update"] == {"hidden_incoming": "zero", "hidden_outgoing": "zero"}


def test_zero_init_with_sigmoid_moves_only_the_outgoing_weights_first():
    proof = prove_identical_updates(Network.parse("2-2-1", activation="sigmoid"), init="zero")
    assert proof.proved
    assert proof.facts["update"] == {"hidden_incoming": "zero", "hidden_outgoing": "nonzero"}


def test_tied_init_gives_identical_nonzero_hidden_updates():
    proof = prove_identical_updates(Network.parse("3-4-2", activation="tanh"), init="tied")
    assert proof.proved
    assert proof.facts["update"]["hidden_incoming"] == "nonzero"
    assert all(r.status == "zero" for r in proof.residuals)


def test_an_untied_pair_is_refuted_with_an_exact_witness():
    net = Network.parse("3-4-2", activation="tanh")
    proof = prove_identical_updates(net, init=_untie(init_point(net, "tied")))
    assert proof.refuted
    assert proof.witness is not None and "u_broken" in proof.witness
    refuted = [r for r in proof.residuals if r.status == "nonzero"]
    assert [r.label.split(":")[0] for r in refuted] == ["layer 1"]


@pytest.mark.parametrize("optimizer", sorted(SYMBOLIC_OPTIMIZERS))
def test_one_optimizer_step_from_a_tied_point_stays_tied(optimizer):
    proof = prove_preserved(Network.parse("2-3-1", activation="tanh"), optimizer=optimizer)
    assert proof.proved
    assert proof.facts["update"]["hidden_incoming"] == "nonzero"


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "nesterov", "rmsprop"])
def test_one_optimizer_step_from_an_untied_point_is_refuted(optimizer):
    net = Network.parse("2-3-1", activation="tanh")
    proof = prove_preserved(net, init=_untie(init_point(net, "tied")), optimizer=optimizer)
    assert proof.refuted


def test_preserved_reports_the_degenerate_zero_step_separately():
    proof = prove_preserved(Network.parse("2-2-1", activation="relu"), init="zero")
    assert proof.proved
    assert proof.facts["update"]["hidden_incoming"] == "zero"
    assert "degenerate" in proof.conclusion


def test_random_init_breaks_symmetry_with_an_analyticity_argument():
    proof = prove_symmetry_breaks(Network.parse("2-2-2-1", activation="tanh"))
    assert proof.proved
    assert len(proof.residuals) == 2 and all(r.status == "nonzero" for r in proof.residuals)
    assert "real-analytic" in proof.conclusion


def test_random_init_with_relu_states_what_is_proved_and_what_is_only_tested():
    proof = prove_symmetry_breaks(Network.parse("2-2-1", activation="relu"))
    assert proof.proved
    text = " ".join(s.text for s in proof.steps)
    assert "positive measure" in text and "Only tested" in text


def test_random_init_with_sigma_names_the_witness_activation():
    proof = prove_symmetry_breaks(Network.parse("2-2-1", activation="sigma", loss="ell"))
    assert proof.proved
    assert r"\sigma(u)" in proof.conclusion


def test_symmetry_breaks_refuses_when_the_generic_point_is_replaced_by_a_tied_one(monkeypatch):
    import symcheck.prove.theorems as theorems

    net = Network.parse("2-2-1", activation="tanh")
    monkeypatch.setattr(
        theorems, "init_point", lambda network, init, value=None: init_point(network, "tied")
    )
    assert not prove_symmetry_breaks(net).proved


def test_softmax_with_one_output_is_refused_with_the_fix():
    # softmax of a single logit is 1, so cross entropy and its gradient vanish
    # identically (found by the property test over architectures): refused up front.
    with pytest.raises(InvalidArgument, match=r"needs at least 2 outputs.*use loss='bce'"):
        Network.parse("1-2-1", activation="identity", loss="cross_entropy")
    assert Network.parse("1-2-2", activation="identity", loss="cross_entropy").widths[-1] == 2
