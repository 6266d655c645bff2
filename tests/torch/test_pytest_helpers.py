"""The assertion helpers of ``symcheck.confirm.testing`` (the plugin's ``symcheck`` fixture).

Each helper passes on a sound case and fails, with a message naming the
space, units and parameters, on a broken one: a constant initialisation, an
optimiser that adds noise, and a gradient hook that scales fc1's gradient
by 1 + 1e-4 (autograd then disagrees with symcheck's engine).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from symcheck.errors import InvalidArgument

torch.set_num_threads(1)


def _mlp(dtype: torch.dtype = torch.float64, constant: float | None = None) -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).to(dtype)
    if constant is not None:
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(constant)
    return model


def _data(generator: torch.Generator, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    return (
        torch.randn(8, 3, generator=generator, dtype=dtype),
        torch.randn(8, 2, generator=generator, dtype=dtype),
    )


class _NudgeFirstRow(torch.optim.SGD):
    """SGD that also moves row 0 of every weight matrix: it un-ties unit 0 deterministically."""

    def step(self, closure=None):
        loss = super().step(closure)
        with torch.no_grad():
            for p in (p for g in self.param_groups for p in g["params"] if p.dim() == 2):
                p[0] += 1e-3
        return loss


def test_symmetry_broken_passes_on_a_random_init_and_names_the_ties_of_a_constant_one(
    symcheck, symcheck_torch_generator
):
    x, _ = _data(symcheck_torch_generator)
    symcheck.assert_symmetry_broken(_mlp(), x)
    with pytest.raises(AssertionError) as info:
        symcheck.assert_symmetry_broken(_mlp(constant=0.5), x)
    message = str(info.value)
    assert "1 tie class(es)" in message and "units [0, 1, 2, 3] are identical" in message
    assert "0.weight axis 0" in message and "2.weight axis 1" in message


def test_ties_preserved_fails_on_an_optimizer_that_nudges_one_row(
    symcheck, symcheck_torch_generator
):
    x, y = _data(symcheck_torch_generator)
    symcheck.assert_ties_preserved(
        _mlp(constant=0.5), lambda ps: torch.optim.SGD(ps, lr=0.1), 10, inputs=x, targets=y
    )
    torch.manual_seed(0)
    with pytest.raises(AssertionError) as info:
        symcheck.assert_ties_preserved(
            _mlp(constant=0.5), lambda ps: _NudgeFirstRow(ps, lr=0.1), 3, inputs=x, targets=y
        )
    message = str(info.value)
    assert "units [0, 1, 2, 3]" in message and "first differ at step 1" in message
    assert "0.weight axis 0" in message and "verdict broken" in message
    with pytest.raises(InvalidArgument, match="max_spread=-1"):
        symcheck.assert_ties_preserved(
            _mlp(constant=0.5), torch.optim.SGD, 1, inputs=x, targets=y, max_spread=-1
        )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gradients_match_catches_a_gradient_scaled_by_one_plus_1e_4(
    symcheck, symcheck_torch_generator, dtype
):
    x, y = _data(symcheck_torch_generator, dtype)
    model = _mlp(dtype)
    symcheck.assert_gradients_match(model, x, y, nn.MSELoss())
    handle = model[0].weight.register_hook(lambda g: g * (1 + 1e-4))
    try:
        with pytest.raises(AssertionError) as info:
            symcheck.assert_gradients_match(model, x, y, nn.MSELoss())
    finally:
        handle.remove()
    message = str(info.value)
    assert message.startswith("1 parameter(s) of Sequential")
    assert "0.weight[" in message and "0.bias" not in message
    assert all(p.grad is None for p in model.parameters())  # the user's .grad restored
