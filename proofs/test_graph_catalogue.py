"""The graph theorems over a small catalogue: both proof kinds agree, random init is refuted."""

from __future__ import annotations

import pytest

from symcheck.graph.prove import prove_identical_updates, prove_preserved, prove_symmetry_breaks
from symcheck.model.optimizers import SYMBOLIC_OPTIMIZERS

CATALOGUE = {
    "mlp": "mlp:inputs=2,hidden=2,layers=1,outputs=1",
    "cnn": "cnn:channels=2,size=2,classes=2,activation=tanh,batch=1",
    "cnn_relu": "cnn:channels=2,size=2,classes=2,batch=1",
    "resmlp": "resmlp:d_model=2,d_ff=2,blocks=1,inputs=2,outputs=1,batch=1",
    "transformer": "transformer:d_model=4,heads=2,seq=2,layers=1,d_ff=4,batch=1",
    "transformer_rope": "transformer:d_model=4,heads=2,seq=2,layers=1,d_ff=4,batch=1,rope=1",
    "transformer_gqa": "transformer:d_model=4,heads=2,kv_heads=1,seq=2,layers=1,d_ff=4,batch=1",
    "moe": "moe:d_model=2,experts=2,d_ff=2,outputs=1,batch=1",
}


@pytest.mark.parametrize("init", ["zero", "constant"])
@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_both_kinds_prove_identical_updates(name: str, init: str) -> None:
    proof = prove_identical_updates(CATALOGUE[name], init=init, kind="both")
    assert proof.facts["kinds"] == {"structural": "proved", "computational": "proved"}
    assert proof.verdict == "proved"


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_both_kinds_prove_adam_keeps_the_zero_init_ties(name: str) -> None:
    proof = prove_preserved(CATALOGUE[name], init="zero", optimizer="adam", kind="both")
    assert proof.facts["kinds"] == {"structural": "proved", "computational": "proved"}


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_random_init_is_refuted_and_breaks_every_space(name: str) -> None:
    proof = prove_identical_updates(CATALOGUE[name], init="random", kind="both")
    assert proof.verdict == "refuted"
    assert proof.witness
    assert prove_symmetry_breaks(CATALOGUE[name]).verdict == "proved"


@pytest.mark.parametrize("optimizer", sorted(SYMBOLIC_OPTIMIZERS))
def test_both_kinds_prove_every_optimizer_keeps_the_tied_point_tied(optimizer: str) -> None:
    proof = prove_preserved("2-2-1", init="tied", optimizer=optimizer, kind="both")
    assert proof.facts["kinds"] == {"structural": "proved", "computational": "proved"}
