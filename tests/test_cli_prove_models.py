"""``symcheck prove`` takes zoo models and graph files as well as chain specs."""

from __future__ import annotations

import pytest

from symcheck.cli import command, main

MOE = "moe:d_model=2,experts=2,d_ff=2"


def test_prove_routes_a_zoo_model_to_the_graph_theorems(capsys):
    assert main(["prove", MOE, "--init", "zero", "--optimizer", "adam"]) == 0
    out = capsys.readouterr().out
    assert "identical_updates: PROVED" in out and "preserved: PROVED" in out


def test_prove_refutes_random_init_of_a_zoo_model(capsys):
    assert main(["prove", MOE, "--init", "random"]) == 1
    assert "REFUTED" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["prove", MOE, "--activation", "relu"], "--activation describe a chain spec"),
        (["prove", MOE, "--no-bias"], "--no-bias describe a chain spec"),
        (["prove", MOE, "--batch", "2"], "--batch describe a chain spec"),
        (["prove", "2-2-1", "--kind", "structural"], "--kind='structural' applies to zoo"),
    ],
)
def test_prove_refuses_options_that_do_not_apply_to_the_model(argv, fragment, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0]


def test_a_chain_spec_keeps_its_defaults(capsys):
    assert main(["prove", "2-2-1", "--init", "tied"]) == 0
    assert "identical_updates: PROVED" in capsys.readouterr().out


@pytest.mark.parametrize("error", [RecursionError, MemoryError])
def test_recursion_and_memory_errors_answer_unknown_in_one_line(error, monkeypatch, capsys):
    def explode(args):
        raise error()

    parser = command.build_parser()
    monkeypatch.setattr(command, "build_parser", lambda command=None: parser)
    for action in parser._subparsers._group_actions:  # the 'prove' subcommand's parser
        action.choices["prove"].set_defaults(func=explode)
    assert main(["prove", "2-2-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the answer is unknown" in err[0]
