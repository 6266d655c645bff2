"""Space names of torch modules: module types of Sequential children; batched experts."""

from __future__ import annotations

import torch
from torch import nn

from symcheck.torch import symmetries


class SoftMoE(nn.Module):
    """Router softmax gates; experts as batched parameters with a bias, through einsum."""

    def __init__(self, d=4, experts=3, f=5):
        super().__init__()
        self.router = nn.Linear(d, experts)
        self.w_up = nn.Parameter(torch.randn(experts, f, d))
        self.b_up = nn.Parameter(torch.randn(experts, f))
        self.w_down = nn.Parameter(torch.randn(experts, d, f))
        self.head = nn.Linear(d, 2)

    def forward(self, x):
        gates = torch.softmax(self.router(x), dim=-1)
        h = torch.tanh(torch.einsum("bd,efd->bef", x, self.w_up) + self.b_up)
        y = torch.einsum("bef,edf->bed", h, self.w_down)
        return self.head(torch.einsum("be,bed->bd", gates, y))


def _space_with(found, parameter, axis):
    (space,) = [
        s for s in found.spaces if any((r.parameter, r.axis) == (parameter, axis) for r in s.axes)
    ]
    return space


def test_sequential_children_are_named_with_their_module_type():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    found = symmetries(model.double(), torch.randn(2, 3, dtype=torch.float64))
    assert [s.name for s in found.movable] == ["0:Linear", "2:Linear"]
    assert {s.kind for s in found.movable} == {"neuron"}
    assert found.to_json()["parameters"]["2.weight"] == ["2:Linear", "0:Linear"]


def test_named_children_keep_their_name():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 4)
            self.out = nn.Linear(4, 2)

        def forward(self, x):
            return self.out(torch.tanh(self.fc(x)))

    found = symmetries(Net().double(), torch.randn(2, 3, dtype=torch.float64))
    assert [s.name for s in found.movable] == ["fc"]


def test_einsum_experts_are_experts_and_their_hidden_neurons_are_not_a_stream():
    torch.manual_seed(0)
    found = symmetries(SoftMoE().double(), torch.randn(2, 4, dtype=torch.float64))
    experts = _space_with(found, "router.weight", 0)
    hidden = _space_with(found, "w_up", 1)
    assert (experts.kind, experts.size) == ("expert", 3)
    assert experts.name.endswith(".experts")
    assert (hidden.name, hidden.kind, hidden.size) == ("w_up", "neuron", 15)
    assert (hidden.group, hidden.independent_per) == ("restricted", experts.name)
    assert not [s for s in found.spaces if s.kind == "stream"]
