"""The audit never claims permanence it cannot back, and one model gets one report.

Each model is built with PyTorch and saved three ways (``torch.save`` of the
state dict, ``safetensors.numpy.save_file``, ``np.savez``); the JSON reports
must be identical apart from the file name and format.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from symcheck.audit import audit_file, render_audit
from symcheck.cli import main

torch = pytest.importorskip("torch")
nn = torch.nn

Capsys = pytest.CaptureFixture[str]


class _Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.fc2(torch.tanh(self.fc1(h)))


class _ResidualMLP(nn.Module):
    """``layers.0 -> (layers.1: h + fc2(tanh(fc1 h))) -> layers.2``: its names chain."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(4, 8), _Block(8), nn.Linear(8, 2)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.layers[0](x))
        return self.layers[2](self.layers[1](h))


def _residual_with_planted_tie() -> nn.Module:
    """Stream units 0 and 1 look tied along the naive chain (rows of layers.0, columns of fc1).

    They are not tied: ``fc2`` writes different values into them and
    ``layers.2`` reads them differently, so training separates them.
    """
    torch.manual_seed(0)
    model = _ResidualMLP()
    with torch.no_grad():
        first, fc1 = model.layers[0], model.layers[1].fc1
        first.weight[1] = first.weight[0]
        first.bias[1] = first.bias[0]
        fc1.weight[:, 1] = fc1.weight[:, 0]
    return model


class _Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(8)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)


def _attention_with_planted_tie() -> nn.Module:
    torch.manual_seed(1)
    model = _Attention()
    with torch.no_grad():
        w = model.attn.in_proj_weight
        w[5] = w[2]  # two query rows of head 0 (row 2) and head 1 (row 5)
        model.attn.out_proj.weight[:, 7] = model.attn.out_proj.weight[:, 1]
    return model


#: Widths of the 12-layer stack: consecutive widths differ, so text order never chains.
_STACK = (3, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 2)
_TIED_LINEAR = 14  # nn.Sequential index of the Linear whose neurons 1 and 3 are tied


def _stack_with_planted_tie() -> nn.Module:
    torch.manual_seed(2)
    layers: list[nn.Module] = []
    for n_in, n_out in itertools.pairwise(_STACK):
        layers += [nn.Linear(n_in, n_out), nn.Tanh()]
    model = nn.Sequential(*layers[:-1])
    with torch.no_grad():
        lin, nxt = model[_TIED_LINEAR], model[_TIED_LINEAR + 2]
        lin.weight[3] = lin.weight[1]
        lin.bias[3] = lin.bias[1]
        nxt.weight[:, 3] = nxt.weight[:, 1]
    return model


MODELS: dict[str, Callable[[], nn.Module]] = {
    "residual": _residual_with_planted_tie,
    "attention": _attention_with_planted_tie,
    "stack": _stack_with_planted_tie,
}


def _save_three_ways(model: nn.Module, folder: Path) -> list[Path]:
    state = model.state_dict()
    arrays = {k: v.detach().numpy().copy() for k, v in state.items()}
    pt, st, npz = folder / "m.pt", folder / "m.safetensors", folder / "m.npz"
    torch.save(state, pt)
    save_file(arrays, str(st))
    np.savez(npz, **arrays)
    return [pt, st, npz]


def _json(path: Path, *argv: str, capsys: Capsys) -> tuple[int, dict]:
    code = main(["audit", str(path), "--format", "json", *argv])
    report = json.loads(capsys.readouterr().out)
    return code, report


@pytest.mark.parametrize("name", sorted(MODELS))
def test_one_model_gets_one_report_in_every_format(
    name: str, tmp_path: Path, capsys: Capsys
) -> None:
    paths = _save_three_ways(MODELS[name](), tmp_path)
    reports = []
    for path in paths:
        code, report = _json(path, capsys=capsys)
        assert code == report["exit_code"] == 1  # every model holds a planted tie
        assert report.pop("format") in {"pytorch", "safetensors", "npz"}
        assert report.pop("file") == path.name
        reports.append(report)
    assert reports[0] == reports[1] == reports[2]
    assert reports[0]["architecture"] is None and not reports[0]["collapsed"]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_without_an_asserted_architecture_nothing_is_claimed(
    name: str, tmp_path: Path, capsys: Capsys
) -> None:
    for path in _save_three_ways(MODELS[name](), tmp_path):
        assert main(["audit", str(path)]) == 1
        out = capsys.readouterr().out
        assert "no claim about training" in out
        assert "IDENTICAL UNITS OBSERVED" in out
        assert "collapsed" not in out.lower() and "can never" not in out
        assert "SGD" not in out and "Adam" not in out


def test_residual_mlp_tie_is_observed_and_training_separates_it(
    tmp_path: Path, capsys: Capsys
) -> None:
    model = _residual_with_planted_tie()
    path = tmp_path / "residual.pt"
    torch.save(model.state_dict(), path)
    _, report = _json(path, capsys=capsys)
    assert report["chain"] == [
        "layers.0.weight",
        "layers.1.fc1.weight",
        "layers.1.fc2.weight",
        "layers.2.weight",
    ]
    first = report["layers"][0]
    assert first["ties"] == [[0, 1]] and first["verdict"] == "identical-units"
    assert not first["certified"] and first["certificate"] is None
    # The reason for the caution: Adam separates the "tied" units.
    x, y = torch.randn(64, 4, generator=torch.Generator().manual_seed(3)), torch.randn(64, 2)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(50):
        optimiser.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimiser.step()
    w = model.layers[0].weight.detach()
    assert float((w[0] - w[1]).abs().max()) > 1e-3


def test_attention_block_is_reported_per_matrix(tmp_path: Path, capsys: Capsys) -> None:
    path = _save_three_ways(_attention_with_planted_tie(), tmp_path)[1]
    _, report = _json(path, capsys=capsys)
    assert report["mode"] == "matrices"
    by_name = {m["name"]: m for m in report["matrices"]}
    assert list(by_name) == ["attn.in_proj_weight", "attn.out_proj.weight"]
    assert by_name["attn.in_proj_weight"]["duplicate_rows"] == [[2, 5]]
    assert by_name["attn.out_proj.weight"]["duplicate_columns"] == [[1, 7]]


def _expected_stack_chain() -> list[str]:
    return [f"{2 * k}.weight" for k in range(len(_STACK) - 1)]


def test_twelve_layer_stack_is_chained_in_numeric_order_and_the_tie_found(
    tmp_path: Path, capsys: Capsys
) -> None:
    hidden = _TIED_LINEAR // 2 + 1  # 1-based hidden layer of that Linear
    for path in _save_three_ways(_stack_with_planted_tie(), tmp_path):
        _, report = _json(path, capsys=capsys)
        assert report["chain"] == _expected_stack_chain()
        tied = [layer for layer in report["layers"] if layer["ties"]]
        assert [(t["index"], t["ties"], t["verdict"]) for t in tied] == [
            (hidden, [[1, 3]], "identical-units")
        ]
        code, asserted = _json(path, "--arch", "mlp", capsys=capsys)
        assert code == 1 and asserted["architecture"] == "mlp"
        layer = asserted["layers"][hidden - 1]
        assert layer["verdict"] == "collapsed" and layer["certified"]
        assert layer["certificate"][1] == 3 and layer["certificate"][3] == 1
        assert [x["verdict"] for x in asserted["layers"]].count("collapsed") == 1


def test_layers_option_asserts_the_architecture(tmp_path: Path) -> None:
    path = _save_three_ways(_stack_with_planted_tie(), tmp_path)[1]
    names = [n.removesuffix(".weight") for n in _expected_stack_chain()]
    report = audit_file(path, layers=names)
    assert report.architecture == "mlp" and report.collapsed
    assert "can never make them differ" in render_audit(report)


@pytest.mark.parametrize("name", ["residual", "attention"])
def test_arch_mlp_on_files_that_are_not_one_chain_is_refused_or_the_users_assertion(
    name: str, tmp_path: Path, capsys: Capsys
) -> None:
    path = _save_three_ways(MODELS[name](), tmp_path)[2]
    code = main(["audit", str(path), "--arch", "mlp"])
    captured = capsys.readouterr()
    if name == "attention":  # LayerNorm and in_proj_weight: not a chain at all
        assert code == 2 and captured.err.count("\n") == 1
        assert "--arch mlp: the floating tensors are not" in captured.err
    else:  # the names chain: the user asserted a plain MLP, and gets that reading
        assert code == 1 and "architecture: mlp (asserted)" in captured.out


def test_unknown_architecture_is_refused_with_the_choices(tmp_path: Path, capsys: Capsys) -> None:
    path = _save_three_ways(_stack_with_planted_tie(), tmp_path)[2]
    with pytest.raises(SystemExit) as exc:
        main(["audit", str(path), "--arch", "transformer"])
    assert exc.value.code == 2
    assert "invalid choice: 'transformer'" in capsys.readouterr().err
