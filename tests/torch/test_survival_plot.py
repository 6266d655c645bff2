"""The tie-survival picture: spread per step on a log scale, float32 against float64.

The figure draws exactly the non-zero spreads of every class, the fitted
exponential of the drift phase and names exact runs in the legend; the
documented command (``symcheck torch-survival ... --plot OUT.png``) writes a
PNG of a sensible size (not compared pixel by pixel), and a bad output path
is refused in one line before any training.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("matplotlib")

from symcheck.cli import main
from symcheck.errors import InvalidArgument
from symcheck.torch import tie_survival
from symcheck.torch.survival import growth_fit
from symcheck.torch.survival_plot import save_survival_figure, survival_figure

torch.set_num_threads(1)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class _Noise(torch.optim.SGD):
    """SGD plus 1e-9 of noise on every entry after the third step: a slow tie breaker."""

    def step(self, closure=None):
        result = super().step(closure)
        self.count = getattr(self, "count", 0) + 1
        if self.count > 3:
            with torch.no_grad():
                for group in self.param_groups:
                    for p in group["params"]:
                        p.mul_(1 + 1e-9 * torch.randn_like(p))
        return result


def _runs():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(8, 3, generator=g), torch.randn(8, 2, generator=g)
    runs = []
    for label, make in (("sgd", lambda ps: torch.optim.SGD(ps, lr=0.1)), ("noisy", _Noise)):
        model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(0.25)
        torch.manual_seed(0)
        made = (lambda ps, m=make: m(ps, lr=0.1)) if make is _Noise else make
        result = tie_survival(model, made, x.double(), y.double(), 20, locate=False)
        runs.append((label, result))
    return runs


def test_the_figure_draws_the_nonzero_spreads_and_the_fit():
    runs = _runs()
    exact, noisy = (r.classes[0] for _, r in runs)
    assert exact.verdict == "exact" and noisy.first_nonzero == 4
    ax = survival_figure(runs).axes[0]
    assert ax.get_yscale() == "log"
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert any("sgd" in name and "exact" in name for name in lines)
    (drawn,) = [line for name, line in lines.items() if name.startswith("noisy, 0:Linear (4")]
    spreads = np.asarray(noisy.spreads)
    assert np.array_equal(drawn.get_xdata(), np.flatnonzero(spreads > 0) + 1)
    assert np.array_equal(drawn.get_ydata(), spreads[spreads > 0])
    (fit,) = [line for name, line in lines.items() if name.startswith("noisy, 0:Linear: fit")]
    rate, intercept = growth_fit(noisy.spreads, until=noisy.threshold)
    assert np.allclose(fit.get_ydata(), np.exp(intercept + rate * fit.get_xdata()))


def test_the_figure_refuses_no_runs():
    with pytest.raises(InvalidArgument, match="non-empty sequence"):
        survival_figure([])


def test_saved_png_has_the_signature_and_a_sensible_size(tmp_path):
    out = save_survival_figure(_runs(), tmp_path / "spread.png", title="two runs")
    blob = out.read_bytes()
    assert blob[:8] == PNG_SIGNATURE and 10_000 < len(blob) < 1_000_000


FACTORY = textwrap.dedent(
    """
    import torch
    from torch import nn

    def silu_mlp():
        model = nn.Sequential(nn.Linear(3, 5), nn.SiLU(), nn.Linear(5, 2))
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(0.25)
        g = torch.Generator().manual_seed(0)
        x, y = torch.randn(8, 3, generator=g), torch.randn(8, 2, generator=g)
        return {"model": model, "inputs": x, "targets": y}
    """
)


@pytest.fixture
def factory(user_module) -> str:
    return f"{user_module(FACTORY)}:silu_mlp"


def test_the_documented_command_writes_a_png(factory, tmp_path, capsys):
    out = tmp_path / "spread.png"
    code = main(
        ["torch-survival", factory, "--optimizer", "adam", "--steps", "30", "--plot", str(out)]
    )
    assert code in (0, 1)
    assert "verdict:" in capsys.readouterr().out
    blob = out.read_bytes()
    assert blob[:8] == PNG_SIGNATURE and 10_000 < len(blob) < 1_000_000


def test_a_bad_plot_path_is_refused_before_training(factory, tmp_path, capsys):
    code = main(["torch-survival", factory, "--plot", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.count("\n") == 1 and "is a directory" in err
