"""The symbolic lumping theorem (T3): proofs, refutations with witnesses, bad arguments."""

from __future__ import annotations

import pytest

from symcheck import Network
from symcheck.errors import InvalidArgument
from symcheck.model.optimizers import SYMBOLIC_OPTIMIZERS
from symcheck.prove.lumping import prove_lumping_preserved
from symcheck.prove.partition import Partition

TWO = Network.parse("2-2-2-1", activation="tanh")
THREE = Network.parse("1-3-3-1", activation="tanh")
ONE_BLOCK_EACH = [[0, 0, 0], [0, 0, 0]]


@pytest.mark.parametrize("optimizer", sorted(SYMBOLIC_OPTIMIZERS))
def test_every_equivariant_optimiser_keeps_a_lumped_partition(optimizer: str) -> None:
    proof = prove_lumping_preserved(TWO, [[0, 0], [0, 0]], optimizer=optimizer)
    assert proof.verdict == "proved", [r for r in proof.residuals if r.status != "zero"]
    assert all(r.status == "zero" for r in proof.residuals)


def test_lumping_holds_for_the_abstract_activation_and_loss() -> None:
    net = Network.parse("1-3-2-1", activation="sigma", loss="ell")
    assert prove_lumping_preserved(net, [[0, 0, 0], [0, 0]], optimizer="momentum").proved


def test_coupled_l2_under_sgd_is_linear_and_keeps_the_partition() -> None:
    assert prove_lumping_preserved(THREE, ONE_BLOCK_EACH, weight_decay=True).proved


def test_decoupled_decay_of_adamw_keeps_the_partition() -> None:
    proof = prove_lumping_preserved(THREE, ONE_BLOCK_EACH, optimizer="adamw", weight_decay=True)
    assert proof.proved


def test_coupled_l2_under_adam_breaks_a_lumped_partition_with_a_witness() -> None:
    proof = prove_lumping_preserved(THREE, ONE_BLOCK_EACH, optimizer="adam", weight_decay=True)
    assert proof.verdict == "refuted"
    bad = [r for r in proof.residuals if r.status == "nonzero"]
    assert bad and all(r.method == "witness" and r.expression != "0" for r in bad)
    assert any(r.label.startswith("row sum") for r in bad)
    assert proof.witness is not None


def test_l1_decay_breaks_a_lumped_partition_even_under_sgd() -> None:
    proof = prove_lumping_preserved(THREE, ONE_BLOCK_EACH, optimizer="sgd", l1=True)
    assert proof.verdict == "refuted"
    assert "sign" not in str(proof.witness)  # the witness is a plain rational point


def test_exact_ties_survive_l2_under_adam_and_l1() -> None:
    proof = prove_lumping_preserved(
        THREE, ONE_BLOCK_EACH, optimizer="adam", weight_decay=True, l1=True, mode="tied"
    )
    assert proof.proved


def test_two_by_two_blocks_keep_their_sums_under_l1() -> None:
    # Equal row and column sums force a 2x2 block to (a, b; b, a): the same
    # multiset of signs in every row, so L1 cannot tell the rows apart.
    assert prove_lumping_preserved(TWO, [[0, 0], [0, 0]], l1=True).proved


def test_proof_accepts_a_partition_object_and_reports_it() -> None:
    partition = Partition.from_labels([[0, 0], [0, 1]])
    proof = prove_lumping_preserved(TWO, partition, optimizer="sgd")
    assert proof.facts["effective_widths"] == [1, 2]
    assert proof.to_dict()["verdict"] == proof.verdict


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"network": "2-2-1"}, "must be a symcheck.Network"),
        ({"partition": [[0, 0]]}, "partition has 1 hidden layers"),
        ({"partition": [[0, 0, 0], [0, 0]]}, "partition layer 1 has 3 neurons"),
        ({"partition": 5}, "one label list per hidden layer"),
        ({"optimizer": "lbfgs"}, "optimizer='lbfgs' is not supported"),
        ({"mode": "loose"}, "mode='loose' is not supported"),
    ],
)
def test_invalid_lumping_arguments_are_rejected_with_the_fix(kwargs: dict, says: str) -> None:
    args = {"network": TWO, "partition": [[0, 0], [0, 0]], **kwargs}
    network, partition = args.pop("network"), args.pop("partition")
    with pytest.raises(InvalidArgument, match=says.replace("(", r"\(")):
        prove_lumping_preserved(network, partition, **args)


def test_lumping_command_exits_zero_when_proved_and_one_when_refuted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from symcheck.cli import main

    assert main(["lumping", "2-2-2-1", "--optimizer", "adam"]) == 0
    assert "lumping_preserved: PROVED" in capsys.readouterr().out
    argv = ["lumping", "1-3-3-1", "--optimizer", "sgd", "--l1", "--format", "json"]
    assert main(argv) == 1
    assert '"verdict": "refuted"' in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["2-2-1", "--partition", "0,x"], "is not a partition"),
        (["2-2-1", "--partition", "0,0,0"], "partition layer 1 has 3 neurons"),
        (["2-x-1"], "is not a width string"),
    ],
)
def test_lumping_command_rejects_bad_input_in_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    from symcheck.cli import main

    assert main(["lumping", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err
