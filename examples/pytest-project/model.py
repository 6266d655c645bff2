"""A user's model: a two-layer MLP and the initialisers to test."""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, d_in: int = 4, hidden: int = 6, d_out: int = 2) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.act = nn.Tanh()
        self.fc2 = nn.Linear(hidden, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


def constant_init(model: nn.Module, value: float = 0.1) -> nn.Module:
    """The initialiser under suspicion: every weight the same."""
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(value)
    return model
