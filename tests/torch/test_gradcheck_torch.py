"""``symcheck.torch.gradcheck`` on planted errors, next to ``torch.autograd.gradcheck``'s defaults.

Planted in custom ``autograd.Function`` backwards (``PLANTED``): a factor
1 + 1e-6, a missing small term, a missing large term (first order) and a
second-order error of relative size 1e-6 that leaves the first derivative
exact. Correct functions (a custom cube; a float64 ``nn.Sequential`` with tanh and one
with ReLU, which refuse complex inputs and so get central differences) pass
both orders: no false alarms.
Each planted error has its own test, which also records what torch's
defaults say (the table in docs/torch.md).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from symcheck.errors import InvalidArgument
from symcheck.torch import gradcheck
from symcheck.torch.autograd_check import MAX_ENTRIES

torch.set_num_threads(1)


def _function(backward_factor=1.0, drop=0.0, second=0.0):
    """``f(x) = x^3 + c x^2`` (c = 1e-4) with a backward that can be wrong.

    ``backward_factor`` scales the whole derivative; ``drop`` removes that
    fraction of the ``2 c x`` term; ``second`` adds ``second * (x - x.detach())``,
    zero in value but with derivative ``second`` (a second-order error).
    """
    c = 1e-4

    class Planted(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3 + c * x**2

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            exact = 3 * x**2 + (1 - drop) * 2 * c * x
            return grad * (backward_factor * exact + second * (x - x.detach()))

    return Planted.apply


PLANTED = {
    "factor 1+1e-6": (_function(backward_factor=1 + 1e-6), 1),
    "missing small term (1e-4 x^2)": (_function(drop=1.0), 1),
    "missing term 0.5 (large)": (_function(backward_factor=0.5), 1),
    "second order, relative 1e-6": (_function(second=1e-6 * 6), 2),
}


def _x() -> torch.Tensor:
    return torch.linspace(0.5, 2.0, 6, dtype=torch.float64)


def torch_default_catches(fn, order: int) -> bool:
    x = _x().requires_grad_(True)
    check = torch.autograd.gradcheck if order == 1 else torch.autograd.gradgradcheck
    return not check(fn, (x,), raise_exception=False)


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_a_planted_error_is_caught(name):
    fn, order = PLANTED[name]
    result = gradcheck(fn, _x(), order=order)
    assert not result.passed, str(result)
    assert f"order-{order} gradcheck" in str(result) and "input 0[" in str(result)


def test_torch_defaults_miss_the_small_errors_symcheck_catches():
    """The measured table: torch's atol=1e-5, rtol=1e-3 miss both 1e-6 errors and the
    small missing term; the large one both catch."""
    assert not torch_default_catches(_function(), 1) and not torch_default_catches(_function(), 2)
    assert {name: torch_default_catches(*PLANTED[name]) for name in PLANTED} == {
        "factor 1+1e-6": False,
        "missing small term (1e-4 x^2)": False,
        "missing term 0.5 (large)": True,
        "second order, relative 1e-6": False,
    }


def _mlp(x):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    return net(x)


def _relu_net(x):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).double()(x)


@pytest.mark.parametrize(
    ("fn", "inputs", "method"),
    [
        (_function(), _x(), "complex-step"),
        (_mlp, torch.randn(5, 3, generator=torch.Generator().manual_seed(0)), "central"),
        (_relu_net, torch.randn(5, 3, generator=torch.Generator().manual_seed(0)), "central"),
    ],
    ids=["cube", "tanh-mlp", "relu-mlp"],
)
def test_correct_functions_pass_first_and_second_order(fn, inputs, method):
    first = gradcheck(fn, inputs)
    assert first.passed and first.method == method, str(first)
    assert first.checked == inputs.numel()
    assert gradcheck(fn, inputs, order=2).passed


def test_bad_arguments_are_refused():
    with pytest.raises(InvalidArgument, match="order=3"):
        gradcheck(torch.sin, _x(), order=3)
    with pytest.raises(InvalidArgument, match="beyond the limit"):
        gradcheck(torch.sin, torch.zeros(MAX_ENTRIES + 1, dtype=torch.float64))
    with pytest.raises(InvalidArgument, match="floating torch tensor"):
        gradcheck(torch.sin, [1, 2])
