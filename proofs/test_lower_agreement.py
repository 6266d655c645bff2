"""The chain prover and the graph core agree on the whole chain catalogue (verdicts and pairs).

For every catalogue network and init: the chain prover (layered reverse mode,
``cross_check=False``), the structural proof on the lowered graph
(:mod:`symcheck.graph.crosscheck`) and, where the graph has every kernel (no
abstract ``sigma``/``ell``), the graph's computational proof give the same
verdict and claim the same tied pairs. Siblings: a contradiction between the
engines is reported as ``unknown``, and a point the cycle does not fix is not
certified.
"""

from __future__ import annotations

import importlib.util
import pathlib
import re

import pytest

import symcheck.graph.crosscheck as crosscheck
import symcheck.prove.theorems as theorems
from symcheck.graph.crosscheck import CrossCheck, combine, structural_check
from symcheck.graph.lower import lower
from symcheck.graph.points import init_point as graph_init_point
from symcheck.graph.prove import prove_identical_updates as graph_prove
from symcheck.model.network import Network
from symcheck.prove.proof import PROVED, REFUTED, UNKNOWN
from symcheck.prove.symbolic import init_point
from symcheck.prove.theorems import prove_identical_updates

_spec = importlib.util.spec_from_file_location(
    "proofs_catalogue", pathlib.Path(__file__).with_name("catalogue.py")
)
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
CATALOGUE = _module.catalogue()
IDS = [str(n) for n in CATALOGUE]
SYMMETRIC = ("zero", "constant", "tied")


def _claimed(network: Network, init: str) -> tuple:
    """The chain's claimed classes per hidden layer, singletons dropped."""
    classes = init_point(network, init).classes
    return tuple(tuple(c for c in layer if len(c) > 1) for layer in classes)


def _concrete(network: Network) -> bool:
    return not network.is_abstract


@pytest.mark.parametrize("init", SYMMETRIC)
@pytest.mark.parametrize("network", CATALOGUE, ids=IDS)
def test_structural_proof_on_the_lowered_graph_agrees_with_the_chain_prover(network, init):
    chain = prove_identical_updates(network, init=init, cross_check=False)
    check = structural_check(network, init=init)
    assert chain.verdict == check.verdict == PROVED
    assert check.classes == _claimed(network, init)
    assert check.tied_pairs == chain.facts["tied_pairs"] == len(chain.residuals)


@pytest.mark.parametrize("init", [*SYMMETRIC, "random"])
@pytest.mark.parametrize("network", [n for n in CATALOGUE if _concrete(n)], ids=str)
def test_computational_proof_on_the_lowered_graph_agrees_with_the_chain_prover(network, init):
    chain = prove_identical_updates(network, init=init, cross_check=False)
    graph = graph_prove(lower(network).graph, init=init, kind="computational")
    assert graph.verdict == chain.verdict
    if init == "random":
        assert graph.verdict == REFUTED and graph.witness
        return
    summary = graph.residuals[-1].label
    assert int(re.match(r"(\d+) tied pairs", summary).group(1)) == chain.facts["tied_pairs"]
    spaces = {s["space"]: tuple(map(tuple, s["classes"])) for s in graph.facts["ties"]["spaces"]}
    layers = [
        lower(network).graph_name(f"W{layer}").removesuffix(".weight")
        for layer in network.hidden_layers
    ]
    assert tuple(spaces.get(name, ()) for name in layers) == _claimed(network, init)


@pytest.mark.parametrize("network", CATALOGUE[:4], ids=IDS[:4])
def test_the_default_proof_records_the_cross_check(network):
    proof = prove_identical_updates(network, init="zero")
    check = structural_check(network, init="zero")
    assert proof.verdict == PROVED
    assert proof.facts["graph_structural"] == check.to_json()
    assert "cross_check" not in proof.facts["recipe"]
    assert any(step.title == "Cross-check" for step in proof.steps)


def test_random_and_given_points_are_not_cross_checked():
    net = Network.parse("2-2-1")
    assert structural_check(net, init="random") is None
    assert structural_check(net, init=init_point(net, "tied")) is None
    assert "graph_structural" not in prove_identical_updates(net, init="random").facts


# ------------------------------------------------------------------ siblings: the check can fail


def test_a_point_the_cycle_does_not_fix_is_not_certified(monkeypatch):
    net = Network.parse("3-4-2", activation="tanh")

    def random_instead(graph, init, *, value=None):
        return graph_init_point(graph, "random", seed=1)

    monkeypatch.setattr(crosscheck, "init_point", random_instead)
    check = structural_check(net, init="zero")
    assert check.verdict == UNKNOWN
    assert any(r.method == "no certificate" for r in check.residuals)


def test_a_contradiction_between_the_engines_is_reported_as_unknown(monkeypatch):
    net = Network.parse("3-4-2", activation="tanh")
    monkeypatch.setattr(theorems, "_verdict", lambda check: REFUTED)  # a broken chain prover
    proof = prove_identical_updates(net, init="zero")
    assert proof.verdict == UNKNOWN
    assert "contradict" in proof.conclusion
    assert prove_identical_updates(net, init="zero", cross_check=False).verdict == REFUTED


def test_combine_keeps_every_verdict_but_a_contradiction():
    classes = (((0, 1, 2),),)
    proved = CrossCheck(PROVED, classes, ())
    assert combine(REFUTED, classes, proved) == UNKNOWN
    assert combine(REFUTED, (((0, 1),),), proved) == REFUTED  # other classes: no contradiction
    assert combine(REFUTED, classes, CrossCheck(UNKNOWN, classes, ())) == REFUTED
    assert combine(PROVED, classes, CrossCheck(UNKNOWN, classes, ())) == PROVED
    assert combine(UNKNOWN, classes, proved) == UNKNOWN
    assert combine(PROVED, classes, None) == PROVED


def test_cross_check_must_be_a_bool():
    with pytest.raises(ValueError, match="cross_check='no' must be True or False"):
        prove_identical_updates(Network.parse("2-2-1"), cross_check="no")


def test_a_certificate_records_and_replays_a_proof_without_the_cross_check():
    import json

    from symcheck.errors import InvalidArgument
    from symcheck.prove.certificate import verify_certificate
    from symcheck.prove.render import render

    net = Network.parse("2-2-1", activation="tanh")
    proofs = [prove_identical_updates(net, init="zero", cross_check=False)]
    cert = json.loads(render(proofs, "json"))
    assert cert["proofs"][0]["facts"]["recipe"]["cross_check"] is False
    assert verify_certificate(cert).proved
    cert["proofs"][0]["facts"]["recipe"]["cross_check"] = True
    with pytest.raises(InvalidArgument, match="cross_check is recorded only as false"):
        verify_certificate(cert)
    del cert["proofs"][0]["facts"]["recipe"]["cross_check"]
    assert not verify_certificate(cert).proved  # re-derived with the check: facts differ
