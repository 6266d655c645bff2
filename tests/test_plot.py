"""The trajectory picture and the ``symcheck plot trajectories`` command."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from symcheck import Network, SymcheckError
from symcheck.cli import main
from symcheck.measure.optim import get_optimizer
from symcheck.measure.train import train
from symcheck.model.init import initialize

pytest.importorskip("matplotlib")

from symcheck.measure.plot import PlotUnavailable, save_figure, trajectory_figure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NET = Network.parse("2-2-1", activation="sigmoid")
DATA = (np.array([[1.0, 2.0], [2.0, -1.0]]), np.array([[1.0], [0.0]]))


def _runs():
    opt = get_optimizer("sgd", lr=1.0)
    zero = train(NET, initialize(NET, "zeros"), DATA, opt, 6)
    rand = train(NET, initialize(NET, "xavier_normal", rng=np.random.default_rng(0)), DATA, opt, 6)
    return [("zero init", zero), ("random init", rand)]


def _lines(ax) -> dict[str, np.ndarray]:
    return {
        line.get_gid(): np.asarray(line.get_ydata()) for line in ax.get_lines() if line.get_gid()
    }


def test_the_figure_plots_exactly_the_trajectory_weights_and_losses():
    runs = _runs()
    fig = trajectory_figure(runs)
    axes = fig.get_axes()
    assert len(axes) == 3
    for ax, (_, traj) in zip(axes, runs):
        lines = _lines(ax)
        assert len(lines) == 4
        for i in range(2):
            for k in range(2):
                np.testing.assert_array_equal(lines[f"w1-{i}-{k}"], traj.weights(1)[:, i, k])
    losses = _lines(axes[2])
    np.testing.assert_array_equal(losses["loss-0"], runs[0][1].losses)
    assert "identical" in axes[0].get_title() and "differ" in axes[1].get_title()


def test_the_zero_init_panel_would_say_differ_for_untied_neurons():
    """Sibling: the verdict in the title is computed, not fixed."""
    runs = _runs()
    fig = trajectory_figure([("random", runs[1][1]), ("zero", runs[0][1])])
    assert "identical" not in fig.get_axes()[0].get_title()


def test_saved_png_has_the_signature_and_a_plausible_size(tmp_path):
    out = save_figure(trajectory_figure(_runs()), tmp_path / "traj.png")
    blob = out.read_bytes()
    assert blob[:8] == PNG_SIGNATURE
    width, height = int.from_bytes(blob[16:20], "big"), int.from_bytes(blob[20:24], "big")
    assert width > 2 * height > 400
    assert len(blob) > 20_000


def test_cli_writes_the_picture(tmp_path, capsys):
    out = tmp_path / "traj.png"
    code = main(
        [
            "plot",
            "trajectories",
            "2-2-1",
            "--activation",
            "sigmoid",
            "--steps",
            "5",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    assert "wrote" in capsys.readouterr().out


def test_missing_matplotlib_gives_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(PlotUnavailable, match=r"pip install 'symcheck\[plot\]'"):
        trajectory_figure(_runs())


def _exit_code(argv: list[str]) -> int:
    """Run the CLI; argparse errors exit through SystemExit, library errors return."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["2-2"], "has no hidden layer"),
        (["2x2x1"], "network='2x2x1' is not a width string"),
        (["2-2-1", "--activation", "tanhh"], "activation='tanhh'"),
        (["2-2-1", "--loss", "hinge"], "loss='hinge'"),
        (["2-2-1", "--layer", "3"], "layer=3"),
        (["2-2-1", "--lr", "-1"], "lr=-1.0"),
        (["2-2-1", "--out", "no/such/dir/x.png"], "does not exist"),
        (["2-2-1", "--out", "x.unknownformat"], "x.unknownformat"),
        (["2-2-1", "--steps", "0"], "not a positive integer"),
        (["2-2-1", "--init", "gauss"], "initializer='gauss' is not supported"),
        (["2-2-1", "--optimizer", "lbfgs"], "optimizer='lbfgs' is not supported"),
        (["2-2-1", "--activation", "sigma"], "abstract"),
    ],
)
def test_bad_plot_input_is_one_line_on_stderr_and_exit_2(
    argv, fragment, capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    out = [] if "--out" in argv else ["--out", "x.png"]
    steps = [] if "--steps" in argv else ["--steps", "2"]
    assert _exit_code(["plot", "trajectories", *argv, *out, *steps]) == 2
    err = capsys.readouterr().err
    assert fragment in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_plot_unavailable_is_a_symcheck_error():
    assert issubclass(PlotUnavailable, SymcheckError)
