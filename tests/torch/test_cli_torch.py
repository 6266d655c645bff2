"""``symcheck torch-survival module:factory``: exit 0 exact, 1 drifting/broken, 2 bad input.

A constant-initialised MLP keeps its ties under SGD (exit 0); the same MLP
with dropout (active while training, absent from the eval-mode capture) is
broken at step 1 and the first difference is located in the gradients, at
the dropout's op. Every bad input is one line on stderr with exit code 2.
"""

from __future__ import annotations

import json
import textwrap

import pytest
import torch

from symcheck.cli import main

torch.set_num_threads(1)

MODELS = textwrap.dedent(
    """
    import torch
    from torch import nn

    def _mlp(dropout=0.0):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Dropout(dropout), nn.Linear(4, 2))
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(0.25)
        return model

    def constant():
        return _mlp(), torch.randn(8, 3, generator=torch.Generator().manual_seed(1))

    def with_dropout():
        x = torch.randn(8, 3, generator=torch.Generator().manual_seed(1))
        return {"model": _mlp(0.5), "inputs": (x,), "targets": torch.zeros(8, 2)}

    def random_init():
        return nn.Linear(3, 2), torch.randn(8, 3)

    def raises():
        raise RuntimeError("no GPU here")

    def wrong():
        return 42

    not_callable = 3
    """
)


@pytest.fixture
def models(user_module) -> str:
    """A fresh module of factories in the current directory; returns its name."""
    return user_module(MODELS)


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(["torch-survival", *argv])
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code)
    out, err = capsys.readouterr()
    return code, out, err


def test_constant_init_under_sgd_is_exact(models, capsys):
    code, out, err = _run(capsys, f"{models}:constant", "--steps", "5", "--dtype", "float64")
    assert (code, err) == (0, "")
    assert "space 0:Linear units [0, 1, 2, 3]: exact; max spread 0" in out
    assert out.endswith("verdict: exact\n")


def test_dropout_breaks_the_ties_and_is_located_at_the_dropout(models, capsys):
    code, out, _ = _run(capsys, f"{models}:with_dropout", "--steps", "3", "--optimizer", "adam")
    assert code == 1
    assert "first non-zero step 1" in out and "verdict: broken" in out
    assert "first difference at step 1: gradient (0.weight, 0.bias, 3.weight)" in out
    assert "op: aten.mul.Tensor (forward) in 2 (Dropout): not equivariant" in out
    code, out, _ = _run(capsys, f"{models}:with_dropout", "--steps", "3", "--format", "json")
    data = json.loads(out)
    assert code == 1 and data["verdict"] == "broken" and data["dtype"] == "float32"
    (entry,) = data["classes"]
    where = entry["first_difference"]
    assert (where["stage"], where["step"], where["phase"]) == ("gradient", 1, "forward")
    assert (where["op"], where["module"]) == ("aten.mul.Tensor", "2 (Dropout)")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["not-a-spec"], "is not of the form module.path:callable"),
        (["no_such_module_here:make"], "cannot import 'no_such_module_here'"),
        (["{m}:absent"], "has no callable 'absent'"),
        (["{m}:not_callable"], "has no callable 'not_callable'"),
        (["{m}:raises"], "raised RuntimeError: no GPU here"),
        (["{m}:wrong"], "returned int; return (model, example_inputs)"),
        (["{m}:random_init"], "has no tie classes now"),
        (["{m}:constant", "--dtype", "float16"], "invalid choice: 'float16'"),
        (["{m}:constant", "--steps", "0"], "'0' is not a positive integer"),
        (["{m}:constant", "--lr", "-1"], "must be a finite number > 0"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(models, capsys, argv, message):
    code, out, err = _run(capsys, *(a.format(m=models) for a in argv))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err, err
