"""Tie survival: a copy of the module trained with a real torch optimiser, spread per tie class.

A constant-initialised MLP trained with SGD and Adam keeps its ties up to
rounding (the theorem is exact; a drift can only come from floating point);
the sibling, an optimiser that adds independent noise to every entry, is
reported broken at step 1. The growth-rate fit and the verdicts are checked
on spreads with a known answer.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from symcheck.errors import InvalidArgument
from symcheck.torch.survival import growth_rate, tie_survival, verdict_of

torch.set_num_threads(1)


def _constant_mlp(dtype: torch.dtype) -> nn.Module:
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).to(dtype)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(0.25)
    return model


def _data(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(8, 3, generator=g, dtype=dtype), torch.randn(8, 2, generator=g, dtype=dtype)


class _NoisySGD(torch.optim.SGD):
    """SGD plus independent noise on every entry: a tie breaker."""

    def step(self, closure=None):
        result = super().step(closure)
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    p.add_(1e-3 * torch.randn_like(p))
        return result


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    "make_optimizer",
    [lambda ps: torch.optim.SGD(ps, lr=0.1), lambda ps: torch.optim.Adam(ps, lr=1e-2)],
    ids=["sgd", "adam"],
)
def test_constant_init_keeps_its_ties_up_to_rounding(dtype, make_optimizer, symcheck):
    model = _constant_mlp(dtype)
    x, y = _data(dtype)
    symcheck.assert_ties_preserved(model, make_optimizer, 25, inputs=x, targets=y, max_spread=1e-10)
    result = tie_survival(model, make_optimizer, x, y, 25)
    assert [c.tie.units for c in result.classes] == [(0, 1, 2, 3)]
    assert result.verdict in ("exact", "drifting")
    assert result.dtype == str(dtype).removeprefix("torch.")
    json.dumps(result.to_json())
    assert all(bool((p.detach() == 0.25).all()) for p in model.parameters())  # untouched


def test_an_optimizer_that_adds_noise_breaks_the_ties_at_step_one():
    torch.manual_seed(0)
    model = _constant_mlp(torch.float64)
    x, y = _data(torch.float64)
    result = tie_survival(model, lambda ps: _NoisySGD(ps, lr=0.1), x, y, 5)
    assert result.verdict == "broken"
    (survival,) = result.classes
    assert survival.first_nonzero == 1 and survival.first_broken == 1


def test_the_growth_rate_fit_and_the_verdicts_on_known_spreads():
    doubling = [0.0, 0.0] + [1e-16 * 2**t for t in range(10)]
    assert growth_rate(doubling) == pytest.approx(math.log(2), rel=1e-9)
    assert growth_rate([0.0, 0.0, 1e-16]) is None
    saturated = [0.0] + [2.0**-40 * 2**t for t in range(30)] + [1.0] * 200  # then apart
    assert growth_rate(saturated, until=1e-6) == pytest.approx(math.log(2), rel=1e-9)
    assert growth_rate(saturated) < math.log(2) * 0.9
    assert verdict_of([0.0] * 5, 1e-6) == "exact"
    assert verdict_of(doubling, 1e-6) == "drifting"
    assert verdict_of([*doubling, 1e-3], 1e-6) == "broken"


def test_a_model_without_ties_and_bad_steps_are_refused():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    x, y = _data(torch.float64)
    with pytest.raises(InvalidArgument, match="has no tie classes"):
        tie_survival(model, lambda ps: torch.optim.SGD(ps, lr=0.1), x, y, 3)
    with pytest.raises(InvalidArgument, match="steps=0"):
        tie_survival(_constant_mlp(torch.float64), lambda ps: torch.optim.SGD(ps, lr=0.1), x, y, 0)
