"""Tests of symcheck.audit and the ``symcheck audit`` command."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from symcheck.audit import (
    SCHEMA_VERSION,
    audit_file,
    audit_params,
    audit_weights,
    infer_chain,
    near_tie_threshold,
    render_audit,
)
from symcheck.audit.weights import load_weights
from symcheck.cli import main
from symcheck.errors import InvalidArgument

Capsys = pytest.CaptureFixture[str]


def _random(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed + sum(shape)).standard_normal(shape)


def _save_npz(path: Path, tensors: dict[str, np.ndarray]) -> Path:
    np.savez(path, **tensors)
    return path


def _zero_file(folder: Path) -> Path:
    return _save_npz(folder / "z.npz", {"0.weight": np.zeros((2, 2)), "1.weight": np.zeros((1, 2))})


@pytest.mark.parametrize(
    ("names", "chain"),
    [
        (["0.weight", "0.bias", "2.weight", "2.bias"], ("0.weight", "2.weight")),
        (["fc1.weight", "fc2.weight", "fc10.weight"], ("fc1.weight", "fc2.weight", "fc10.weight")),
        (["layers.1.weight", "layers.0.weight"], ("layers.0.weight", "layers.1.weight")),
        (["W1", "b1", "W2", "b2"], ("W1", "W2")),
    ],
)
def test_chain_is_inferred_from_the_usual_names(names: list[str], chain: tuple[str, ...]) -> None:
    widths = [3, 4, 5, 2]
    shapes = {w: (widths[k + 1], widths[k]) for k, w in enumerate(chain)}
    tensors = {}
    for name in names:
        if name in shapes:
            tensors[name] = np.zeros(shapes[name])
        else:  # a bias: same prefix as its weight
            weight = name.replace("bias", "weight") if "bias" in name else "W" + name[1:]
            tensors[name] = np.zeros(shapes[weight][0])
    assert infer_chain(tensors) == chain


def test_tensors_that_do_not_chain_are_not_a_chain() -> None:
    tensors = {"a.weight": np.zeros((3, 4)), "b.weight": np.zeros((3, 5))}
    assert infer_chain(tensors) == ()
    with_norm = {"0.weight": np.zeros((3, 2)), "1.weight": np.ones(3), "2.weight": np.zeros((1, 3))}
    assert infer_chain(with_norm) == ()


def test_zero_init_file_collapses_and_exits_one(tmp_path: Path, capsys: Capsys) -> None:
    path = _save_npz(
        tmp_path / "zero.npz",
        {"0.weight": np.zeros((4, 3)), "0.bias": np.zeros(4), "2.weight": np.zeros((2, 4))},
    )
    assert main(["audit", str(path)]) == 1
    out = capsys.readouterr().out
    assert "layer 1 (0): width 4, 1 distinct unit -> identical-units" in out
    assert "no claim about training" in out and "IDENTICAL UNITS OBSERVED" in out
    assert "collapsed" not in out.lower() and "can never" not in out
    assert main(["audit", str(path), "--arch", "mlp"]) == 1
    out = capsys.readouterr().out
    assert "hidden layer 1 (0): width 4, tie classes 1, effective width 1 -> collapsed" in out
    assert "COLLAPSED" in out and "can never make them differ" in out


def test_random_init_file_keeps_full_width_and_exits_zero(tmp_path: Path, capsys: Capsys) -> None:
    tensors = {
        "fc1.weight": _random((6, 3)),
        "fc1.bias": _random((6,)),
        "fc2.weight": _random((2, 6)),
    }
    path = tmp_path / "random.safetensors"
    save_file({k: v.astype(np.float32) for k, v in tensors.items()}, str(path))
    assert main(["audit", str(path), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["schema"] == SCHEMA_VERSION
    assert report["mode"] == "chain" and report["architecture"] is None
    (layer,) = report["layers"]
    assert (layer["name"], layer["width"], layer["classes"], layer["effective_width"]) == (
        "fc1",
        6,
        6,
        None,
    )
    assert layer["verdict"] == "distinct" and layer["ties"] == [] and layer["nearest"]["exact"]
    assert main(["audit", str(path), "--format", "json", "--arch", "mlp"]) == 0
    layer = json.loads(capsys.readouterr().out)["layers"][0]
    assert (layer["effective_width"], layer["verdict"], layer["certified"]) == (6, "full", True)


def test_lumped_but_untied_layers_are_reported_as_collapsed(tmp_path: Path) -> None:
    a, b = 0.3, -0.7
    path = _save_npz(
        tmp_path / "lumped.npz",
        {
            "0.weight": np.array([[0.2, 0.4], [0.2, 0.4]]),
            "2.weight": np.array([[a, b], [b, a]]),
            "4.weight": np.array([[0.5, 0.5]]),
        },
    )
    observed = audit_file(path).layers[1]
    assert (observed.classes, observed.effective_width, observed.verdict) == (2, None, "distinct")
    report = audit_file(path, arch="mlp")
    second = report.layers[1]
    assert (second.classes, second.effective_width, second.verdict) == (2, 1, "collapsed")
    assert second.certified and report.exit_code == 1
    assert "lumped blocks: {0, 1}" in render_audit(report)


def test_near_tie_is_a_warning_not_a_failure() -> None:
    w1 = _random((3, 2))
    w1[1] = w1[0] * (1 + 1e-12)
    report = audit_params([(w1, None), (np.ones((1, 3)), None)])
    (layer,) = report.layers
    assert layer.verdict == "near-tie" and layer.near_tie
    assert report.exit_code == 0
    assert layer.nearest.distance < near_tie_threshold(np.float64)


def test_tolerance_turns_a_near_tie_into_a_collapse(tmp_path: Path, capsys: Capsys) -> None:
    w1 = _random((3, 2))
    w1[1] = w1[0] + 1e-12
    path = _save_npz(tmp_path / "near.npz", {"0.weight": w1, "2.weight": np.ones((1, 3))})
    assert main(["audit", str(path)]) == 0
    assert main(["audit", str(path), "--tolerance", "1e-9"]) == 1
    capsys.readouterr()


def test_explicit_layers_override_inference(tmp_path: Path, capsys: Capsys) -> None:
    tensors = {
        "enc.weight": _random((4, 3)),
        "norm.weight": np.ones(4),
        "dec.weight": np.zeros((2, 4)),
    }
    path = _save_npz(tmp_path / "mixed.npz", tensors)
    assert audit_file(path).mode == "matrices"
    assert main(["audit", str(path), "--layers", "enc,dec.weight", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["chain"] == ["enc.weight", "dec.weight"]


def test_non_chain_file_reports_duplicate_rows_and_columns(tmp_path: Path) -> None:
    q = _random((4, 3))
    q[2] = q[0]
    q[:, 1] = q[:, 2]
    path = _save_npz(tmp_path / "attn.npz", {"attn.q": q, "attn.k": _random((5, 3))})
    report = audit_file(path)
    assert report.mode == "matrices" and report.exit_code == 1
    first, second = (m.to_dict() for m in report.matrices)
    assert (first["name"], second["name"]) == ("attn.k", "attn.q")
    assert second["duplicate_rows"] == [[0, 2]]
    assert second["duplicate_columns"] == [[1, 2]]
    assert second["distinct_rows"] == 3
    assert first["duplicate_rows"] == first["duplicate_columns"] == []
    text = render_audit(report)
    assert "IDENTICAL UNITS OBSERVED: attn.q." in text and "can never" not in text


def test_json_schema_has_the_documented_fields(tmp_path: Path) -> None:
    path = _save_npz(
        tmp_path / "z.npz", {"0.weight": np.zeros((2, 2)), "1.weight": np.zeros((1, 2))}
    )
    report = json.loads(render_audit(audit_file(path), "json"))
    assert list(report) == [
        "schema",
        "file",
        "format",
        "tensors",
        "parameters",
        "tolerance",
        "architecture",
        "mode",
        "chain",
        "layers",
        "matrices",
        "nonfinite",
        "skipped",
        "identical",
        "collapsed",
        "exit_code",
    ]
    assert list(report["layers"][0]) == [
        "index",
        "name",
        "weight",
        "bias",
        "width",
        "classes",
        "ties",
        "dead_incoming",
        "dead_outgoing",
        "effective_width",
        "blocks",
        "certified",
        "certificate",
        "nearest",
        "near_tie",
        "verdict",
    ]


def test_pytorch_state_dict_is_audited(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 1))
    torch.nn.init.zeros_(model[0].weight)
    torch.nn.init.zeros_(model[0].bias)
    torch.nn.init.zeros_(model[2].weight)
    path = tmp_path / "model.pt"
    torch.save(model.state_dict(), path)
    report = audit_file(path, arch="mlp")
    assert report.chain == ("0.weight", "2.weight")
    assert report.layers[0].effective_width == 1 and report.collapsed


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--tolerance", "-1"], "must be a finite number >= 0"),
        (["--tolerance", "abc"], "is not a number"),
        (["--format", "xml"], "invalid choice: 'xml'"),
        (["--layers", "nope"], "--layers entry='nope' is not supported"),
        (["--layers", "0.weight"], "do not chain"),
        (["--max-bytes", "lots"], "is not a size"),
    ],
)
def test_invalid_audit_arguments_are_one_line_and_exit_two(
    tmp_path: Path, capsys: Capsys, argv: list[str], says: str
) -> None:
    path = _save_npz(
        tmp_path / "z.npz", {"0.weight": np.zeros((2, 2)), "1.weight": np.zeros((1, 2))}
    )
    try:
        code = main(["audit", str(path), *argv])
    except SystemExit as exc:  # argparse errors exit through _Parser.error
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and says in err


def test_render_rejects_an_unknown_format(tmp_path: Path) -> None:
    path = _save_npz(
        tmp_path / "z.npz", {"0.weight": np.zeros((2, 2)), "1.weight": np.zeros((1, 2))}
    )
    with pytest.raises(InvalidArgument, match="format='xml' is not supported"):
        render_audit(audit_file(path), "xml")


def test_an_unknown_architecture_is_refused_by_the_library(tmp_path: Path) -> None:
    path = _zero_file(tmp_path)
    with pytest.raises(InvalidArgument, match=r"--arch='transformer' is not supported; use one"):
        audit_file(path, arch="transformer")
    weights = load_weights(path)
    with pytest.raises(InvalidArgument, match="omit it to get observations only"):
        audit_weights(weights, arch="MLP")


def test_nearest_pair_is_in_the_json_and_null_for_a_single_unit(tmp_path: Path) -> None:
    path = _save_npz(
        tmp_path / "one.npz", {"0.weight": _random((1, 3)), "2.weight": _random((2, 1))}
    )
    (layer,) = json.loads(render_audit(audit_file(path), "json"))["layers"]
    assert layer["nearest"] == {"distance": None, "pair": None, "exact": True}
    path = _save_npz(
        tmp_path / "two.npz", {"0.weight": _random((2, 3)), "2.weight": _random((2, 2))}
    )
    (layer,) = json.loads(render_audit(audit_file(path), "json"))["layers"]
    assert layer["nearest"]["pair"] == [0, 1] and layer["nearest"]["distance"] > 0


def test_reports_are_immutable(tmp_path: Path) -> None:
    report = audit_file(_zero_file(tmp_path))
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.layers[0].width = 3  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.file = "other"  # type: ignore[misc]
    matrices = audit_file(_save_npz(tmp_path / "m.npz", {"a": np.ones((2, 2))})).matrices
    with pytest.raises(dataclasses.FrozenInstanceError):
        matrices[0].name = "b"  # type: ignore[misc]


@pytest.mark.parametrize(("count", "listed"), [(20, 20), (21, 20)])
def test_a_wrong_layers_entry_lists_at_most_twenty_matrices(
    tmp_path: Path, count: int, listed: int
) -> None:
    path = _save_npz(tmp_path / "many.npz", {f"m{i}": np.ones((2, 2)) for i in range(count)})
    with pytest.raises(InvalidArgument) as exc:
        audit_file(path, layers=["nope"])
    message = str(exc.value)
    assert message.count("'m") == listed
    assert ("'...'" in message) == (count > listed)


def test_dead_units_are_all_zero_rows_and_columns(tmp_path: Path, capsys: Capsys) -> None:
    w1, w2 = _random((3, 2)), _random((2, 3))
    w1[1] = [0.0, -0.0]  # -0.0 is zero
    w1[2, 0] = np.nan  # NaN is not zero
    w1[2, 1] = 0.0
    w2[:, 2] = 0.0
    path = _save_npz(tmp_path / "dead.npz", {"0.weight": w1, "2.weight": w2})
    assert main(["audit", str(path), "--format", "json"]) == 0
    (layer,) = json.loads(capsys.readouterr().out)["layers"]
    assert (layer["dead_incoming"], layer["dead_outgoing"]) == ([1], [2])
    text = render_audit(audit_file(path))
    assert "all-zero incoming weights: 1 unit {1}" in text
    assert "all-zero outgoing weights: 1 unit {2}" in text
    matrices = audit_file(_save_npz(tmp_path / "m.npz", {"a": w1, "e": np.zeros((0, 2))})).matrices
    assert (matrices[0].zero_rows, matrices[0].zero_columns) == ((1,), ())
    assert (matrices[1].zero_rows, matrices[1].zero_columns) == ((), (0, 1))


def test_near_tie_threshold_follows_the_weight_dtype() -> None:
    assert near_tie_threshold(np.float64) == pytest.approx(1.49e-8, rel=1e-2)
    assert near_tie_threshold(np.float32) == pytest.approx(3.45e-4, rel=1e-2)
    assert near_tie_threshold(np.float16) == pytest.approx(3.1e-2, rel=1e-2)
    assert near_tie_threshold(np.int64) == near_tie_threshold(np.float64)
    w1 = _random((3, 2)).astype(np.float32)
    w1[1] = w1[0] * np.float32(1 + 1e-5)
    w2 = np.ones((1, 3), dtype=np.float32) * np.array([[1.0, 1.0, 2.0]], dtype=np.float32)
    single = audit_params([(w1, None), (w2, None)]).layers[0]
    double = audit_params([(w1.astype(np.float64), None), (w2.astype(np.float64), None)]).layers[0]
    assert (single.verdict, double.verdict) == ("near-tie", "full")


def test_a_distance_of_exactly_the_threshold_is_not_a_near_tie() -> None:
    """Near tie is strictly below sqrt(eps): units (1, 0) and (1, 2**-26) are 2**-26 apart."""
    step = 2.0**-26
    assert near_tie_threshold(np.float64) == step
    at = audit_params([(np.ones((2, 1)), None), (np.array([[0.0, step]]), None)]).layers[0]
    assert at.nearest.distance == step and at.verdict == "full"
    below = audit_params([(np.ones((2, 1)), None), (np.array([[0.0, step / 2]]), None)]).layers[0]
    assert below.verdict == "near-tie"


def test_in_memory_parameters_are_named_from_one() -> None:
    params = [
        (_random((3, 2)), _random((3,))),
        (_random((2, 3)), None),
        (_random((1, 2)), _random((1,))),
    ]
    report = audit_params(params, name="net")
    assert [(x.name, x.weight, x.bias) for x in report.layers] == [
        ("1", "W1", "b1"),
        ("2", "W2", None),
    ]
    assert (report.file, report.format, report.tensors, report.parameters) == (
        "net",
        "memory",
        5,
        18,
    )
    assert report.chain == ("W1", "W2", "W3") and report.architecture == "mlp"


def test_nearest_pair_lines_say_identical_tied_or_not_available(tmp_path: Path) -> None:
    zero = _zero_file(tmp_path)
    assert "  nearest pair: 0 (identical) between units 0 and 1\n" in render_audit(audit_file(zero))
    asserted = render_audit(audit_file(zero, arch="mlp"))
    assert "  nearest pair: 0 (tied) between units 0 and 1\n" in asserted
    one = _save_npz(
        tmp_path / "one.npz", {"0.weight": _random((1, 3)), "2.weight": _random((2, 1))}
    )
    assert "  nearest pair: n/a\n" in render_audit(audit_file(one))
    w1 = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.5]])
    apart = _save_npz(tmp_path / "apart.npz", {"0.weight": w1, "2.weight": np.ones((1, 3))})
    assert "  nearest pair: 0.333 between units 0 and 2\n" in render_audit(audit_file(apart))
