"""Unit tests of the scale diagnosis, its plot and the ``scale`` / ``derive-init`` commands."""

from __future__ import annotations

import importlib
import json
import math

import numpy as np
import pytest

from symcheck.cli import main
from symcheck.errors import InvalidArgument
from symcheck.measure.diagnose import (
    EPSILON,
    diagnose,
    diagnose_init,
    sample_data,
    saturates,
    saturation_probability,
)
from symcheck.measure.plot import PlotUnavailable
from symcheck.measure.scale_plot import scale_figure
from symcheck.model.activations import get_activation
from symcheck.model.init import initialize
from symcheck.model.network import Network


def _run(net: Network, init: str, seed: int = 0, **kw):
    return diagnose_init(net, init, rng=np.random.default_rng(seed), samples=64, **kw)


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (
            lambda: sample_data(Network.parse("2-2-1"), rng=np.random.default_rng(0), samples=0),
            "samples=0",
        ),
        (lambda: _run(Network.parse("2-2-1"), "he_normal", epsilon=1.5), "epsilon=1.5"),
        (lambda: _run(Network.parse("2-2-1"), "he_normal", gain_band=0.5), "gain_band=0.5"),
        (lambda: _run(Network.parse("2-2-1"), "he_normal", scale=-1.0), "scale=-1.0"),
        (lambda: _run(Network.parse("2-2-1", activation="sigma"), "he_normal"), "abstract"),
        (lambda: _run(Network.parse("2-2-1"), "he_normal", options={"std": 0.1}), "std"),
        (lambda: _run(Network.parse("2-2-1"), "hee_normal"), "hee_normal"),
    ],
)
def test_invalid_diagnosis_arguments_name_the_value(call, fragment):
    with pytest.raises(InvalidArgument) as info:
        call()
    assert fragment in str(info.value)


def test_zero_init_is_vanishing_because_no_gradient_reaches_the_hidden_layers():
    d = _run(Network.parse("4-4-4-1"), "zeros")
    assert d.verdict == "vanishing"
    assert "no gradient" in d.reason
    assert d.fix_verdict == "healthy"


def test_he_init_with_relu_is_healthy_and_names_no_fix():
    d = _run(Network.parse("128-128-128-128-1", activation="relu"), "he_normal")
    assert d.verdict == "healthy"
    assert d.fix == ""


def test_unit_std_tanh_is_saturating_and_lecun_fixes_it():
    d = _run(Network.parse("128-128-128-1"), "normal", options={"std": 1.0})
    assert d.verdict == "saturating"
    assert d.fix.startswith("lecun_normal")
    assert d.fix_verdict == "healthy"


def test_unit_std_relu_is_exploding():
    d = _run(Network.parse("128-128-128-1", activation="relu"), "normal", options={"std": 1.0})
    assert d.verdict == "exploding"


def test_overflowing_signals_are_exploding_not_healthy():
    # sigma_w^2 = 64e8 per layer: q passes 1e308 (float64 overflow) before layer 20.
    net = Network((64,) * 20 + (1,), "relu")
    d = _run(net, "normal", options={"std": 1e4}, check_fix=False)
    assert d.verdict == "exploding"
    assert "overflow" in d.reason


def test_relu_does_not_saturate_and_reports_no_saturation():
    assert not saturates(get_activation("relu"))
    d = _run(Network.parse("16-16-1", activation="relu"), "he_normal")
    assert d.layers[0].saturation is None


def test_tanh_saturation_threshold_is_h_above_0_99():
    tanh = get_activation("tanh")
    assert saturates(tanh)
    # P(|tanh(sqrt(q) z)| > 0.99) = erfc(atanh(0.99) / sqrt(2 q)).
    q = 3.0
    expected = math.erfc(math.atanh(0.99) / math.sqrt(2 * q))
    assert saturation_probability(tanh, q, epsilon=EPSILON) == pytest.approx(expected, rel=1e-12)


def test_first_layer_prediction_is_exact_in_expectation_over_the_weights():
    # q^1 = sigma_w^2 mean(x^2) exactly when W has exactly mean(W^2) sigma_w^2 / n:
    # orthogonal rows preserve the squared norm, so the measured q^1 equals the prediction.
    net = Network.parse("64-64-1", activation="tanh")
    d = _run(net, "orthogonal")
    assert d.layers[0].q == pytest.approx(d.layers[0].q_pred, rel=64 * np.finfo(float).eps)


def test_diagnosis_of_explicit_params_matches_the_init_path():
    net = Network.parse("32-32-1", activation="relu")
    rng = np.random.default_rng(7)
    x, y = sample_data(net, rng=rng, samples=64)
    params = initialize(net, "he_normal", rng=rng)
    d = diagnose(net, params, x, y)
    assert d.init == "given"
    assert d.to_dict()["layers"][0]["layer"] == 1


def test_diagnosis_to_dict_is_json_serialisable():
    d = _run(Network.parse("8-8-1"), "classic_normal")
    data = json.loads(json.dumps(d.to_dict()))
    assert data["verdict"] == "vanishing"
    assert len(data["layers"]) == 2


# -- plot ----------------------------------------------------------------------------------


def test_scale_figure_draws_measured_and_predicted_lines_per_diagnosis():
    net = Network.parse("16-16-16-1")
    runs = [_run(net, "lecun_normal", scale=c, check_fix=False) for c in (0.5, 1.0)]
    fig = scale_figure(runs)
    gids = {line.get_gid() for ax in fig.axes for line in ax.get_lines()}
    assert {"delta_norm-0", "delta_norm_pred-1", "grad_norm-1"} <= gids
    line = next(ln for ln in fig.axes[0].get_lines() if ln.get_gid() == "delta_norm-1")
    assert list(line.get_ydata()) == [r.delta_norm for r in runs[1].layers]


def test_scale_figure_without_matplotlib_raises_plot_unavailable(monkeypatch):
    real = importlib.import_module

    def fake(name, *args):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", fake)
    with pytest.raises(PlotUnavailable, match="pip install"):
        scale_figure([_run(Network.parse("4-4-1"), "lecun_normal", check_fix=False)])


# -- command line --------------------------------------------------------------------------


def test_scale_command_prints_table_verdict_and_fix(capsys):
    code = main(["scale", "64-64-64-1", "--init", "classic_normal", "--samples", "32"])
    out = capsys.readouterr().out
    assert code == 0
    assert "verdict: vanishing" in out
    assert "fix: lecun_normal" in out


def test_scale_check_flag_fails_unless_healthy(capsys):
    assert main(["scale", "32-32-1", "--init", "classic_uniform", "--check"]) == 1
    assert main(["scale", "32-32-1", "--init", "lecun_normal", "--check"]) == 0
    capsys.readouterr()


@pytest.mark.parametrize("fmt", ["json", "md"])
def test_scale_command_formats(capsys, fmt):
    assert main(["scale", "16-16-1", "--init", "normal", "--std", "0.01", "--format", fmt]) == 0
    out = capsys.readouterr().out
    assert ("| layer |" in out) if fmt == "md" else json.loads(out)["init"] == "normal(std=0.01)"


def test_scale_plot_writes_a_png(tmp_path, capsys):
    out = tmp_path / "scale.png"
    assert main(["scale", "16-16-16-1", "--init", "classic_normal", "--plot", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    capsys.readouterr()


@pytest.mark.parametrize(
    "argv",
    [
        ["scale", "2-x-1", "--init", "he_normal"],
        ["scale", "4-4-1", "--init", "he_normal", "--std", "0.1"],
        ["scale", "4-4-1", "--init", "nope"],
        ["scale", "4-4-1", "--init", "he_normal", "--plot", "/nonexistent-dir/p.png"],
        ["derive-init", "--preset", "classic_normal"],
        ["derive-init", "--glorot", "--fan-in", "3"],
        ["derive-init", "--activation", "tanhh"],
    ],
)
def test_bad_scale_input_is_one_line_on_stderr_and_exit_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("symcheck: error:")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "code", "fragment"),
    [
        (["derive-init", "--activation", "relu"], 0, "He initialisation for relu: PROVED"),
        (["derive-init", "--glorot", "--format", "md"], 0, "Glorot initialisation"),
        (["derive-init", "--activation", "sigmoid"], 2, "UNKNOWN"),
        (["derive-init", "--preset", "classic_normal_variance", "--width", "512"], 1, "REFUTED"),
    ],
)
def test_derive_init_command_exit_code_follows_the_verdict(argv, code, fragment, capsys):
    assert main(argv) == code
    assert fragment in capsys.readouterr().out
