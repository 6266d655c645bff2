"""A user's tests of model.py with the symcheck plugin's fixtures and helpers."""

from __future__ import annotations

import pytest
import torch
from model import MLP, constant_init
from torch import nn


def _data(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(8, 4, generator=generator, dtype=torch.float64)
    return x, torch.randn(8, 2, generator=generator, dtype=torch.float64)


def test_default_init_breaks_the_symmetry(symcheck, symcheck_torch_generator):
    torch.manual_seed(0)
    x, _ = _data(symcheck_torch_generator)
    symcheck.assert_symmetry_broken(MLP().double(), x)


def test_constant_init_does_not(symcheck, symcheck_torch_generator):
    x, _ = _data(symcheck_torch_generator)
    with pytest.raises(AssertionError, match="units \\[0, 1, 2, 3, 4, 5\\] are identical"):
        symcheck.assert_symmetry_broken(constant_init(MLP().double()), x)


def test_sgd_keeps_constant_init_tied_in_float32(symcheck, symcheck_torch_generator):
    x, y = (t.float() for t in _data(symcheck_torch_generator))
    symcheck.assert_ties_preserved(
        constant_init(MLP()),
        lambda ps: torch.optim.SGD(ps, lr=0.1),
        20,
        inputs=x,
        targets=y,
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_autograd_agrees_with_symcheck(symcheck, symcheck_torch_generator, dtype):
    torch.manual_seed(1)
    x, y = (t.to(dtype) for t in _data(symcheck_torch_generator))
    symcheck.assert_gradients_match(MLP().to(dtype), x, y, nn.MSELoss())
