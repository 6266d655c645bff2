"""``symcheck.torch.prove``: the structural proof about a module's current ties."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from symcheck.errors import InvalidArgument
from symcheck.torch import prove


def _mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))


def test_a_planted_hidden_tie_is_proved_to_survive_adam():
    model = _mlp()
    with torch.no_grad():  # hidden neuron 3 copies neuron 1: row, bias and outgoing column
        model[0].weight[3] = model[0].weight[1]
        model[0].bias[3] = model[0].bias[1]
        model[2].weight[:, 3] = model[2].weight[:, 1]
    proof = prove(model, torch.randn(2, 3), optimizer="adam")
    assert proof.verdict == "proved"
    assert "(1 pair(s) in 0 (1 class(es)))" in proof.statement
    assert proof.to_json()["verdict"] == "proved"


def test_a_tie_between_output_units_is_not_claimed():
    model = _mlp()
    with torch.no_grad():  # equal outputs: the loss fixes the output axis, no symmetry ties them
        model[2].weight[1] = model[2].weight[0]
        model[2].bias[1] = model[2].bias[0]
    proof = prove(model, torch.randn(2, 3))
    assert "(0 pair(s) in none)" in proof.statement


def test_bad_arguments_are_refused_in_one_message():
    with pytest.raises(InvalidArgument, match="loss='huber' is not supported"):
        prove(_mlp(), torch.randn(2, 3), loss="huber")
    with pytest.raises(InvalidArgument, match="lbfgs"):
        prove(_mlp(), torch.randn(2, 3), optimizer="lbfgs")
