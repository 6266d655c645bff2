"""The theorems over the catalogue: symmetric inits proved, random init refuted with a witness."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest

from symcheck.model.activations import ACTIVATIONS
from symcheck.model.losses import LOSSES
from symcheck.prove.theorems import prove_identical_updates, prove_preserved, prove_symmetry_breaks

_spec = importlib.util.spec_from_file_location(
    "proofs_catalogue", pathlib.Path(__file__).with_name("catalogue.py")
)
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
CATALOGUE = _module.catalogue()
IDS = [str(n) for n in CATALOGUE]


def test_catalogue_covers_every_activation_every_loss_and_the_four_networks():
    assert {n.activations[0] for n in CATALOGUE} == set(ACTIVATIONS)
    assert {n.loss for n in CATALOGUE} == set(LOSSES)
    specs = {n.spec for n in CATALOGUE}
    assert {"2-2-1", "3-4-2", "3-4-4-2", "2-3-3-3-1"} <= specs


@pytest.mark.parametrize("network", CATALOGUE, ids=IDS)
@pytest.mark.parametrize("init", ["zero", "constant", "tied"])
def test_symmetric_init_gives_identical_updates(network, init):
    proof = prove_identical_updates(network, init=init)
    assert proof.proved, [r for r in proof.residuals if r.status != "zero"]
    assert proof.facts["tied_pairs"] == sum(network.widths[1:-1]) - (network.depth - 1)


@pytest.mark.parametrize("network", CATALOGUE, ids=IDS)
def test_random_init_is_refuted_with_a_witness(network):
    proof = prove_identical_updates(network, init="random")
    assert proof.refuted
    assert proof.witness
    assert any(r.status == "nonzero" and "witness" in r.method for r in proof.residuals)


@pytest.mark.parametrize("network", CATALOGUE, ids=IDS)
def test_random_init_breaks_the_symmetry_of_every_hidden_layer(network):
    proof = prove_symmetry_breaks(network)
    assert proof.proved
    assert len(proof.residuals) == network.depth - 1


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("network", CATALOGUE[::4], ids=IDS[::4])
def test_one_step_from_a_tied_point_lands_on_a_tied_point(network, optimizer):
    assert prove_preserved(network, init="tied", optimizer=optimizer).proved


def test_constant_init_with_a_rational_value_is_proved():
    assert prove_identical_updates(CATALOGUE[2], init="constant", value="1/10").proved
