"""The collapse monitor: effective width, zero units and tie drift, recorded every N steps.

A constant-initialised MLP has effective width 1 in its hidden space and
stays so under SGD (drift 0); after random noise is added it has full width
and the drift of the original class is positive (the sibling). Zeroed units
are reported. The lightning Callback is tested with a real Trainer where
lightning is installed.
"""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from symcheck.errors import InvalidArgument
from symcheck.torch.monitor import CollapseMonitor, lightning_callback

torch.set_num_threads(1)


def _constant_mlp() -> nn.Module:
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2)).double()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(0.2)
    return model


def _train(model, monitor, steps, noise=0.0):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 3, generator=g, dtype=torch.float64)
    y = torch.randn(8, 2, generator=g, dtype=torch.float64)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(steps):
        opt.zero_grad()
        nn.MSELoss()(model(x), y).backward()
        opt.step()
        if noise:
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(noise * torch.randn(p.shape, generator=g, dtype=p.dtype))
        monitor(step)


def test_a_tied_model_stays_at_width_one_and_records_every_nth_step():
    model = _constant_mlp()
    monitor = CollapseMonitor(model, torch.zeros(1, 3, dtype=torch.float64), every=2)
    _train(model, monitor, 6)
    assert [r.step for r in monitor.records] == [0, 2, 4]
    assert {(r.space, r.size, r.effective_width, r.drift) for r in monitor.records} == {
        ("0:Linear", 5, 1, (0.0,))
    }
    json.dumps(monitor.to_json())


def test_noise_restores_the_width_and_shows_the_drift():
    model = _constant_mlp()
    monitor = CollapseMonitor(model, torch.zeros(1, 3, dtype=torch.float64))
    monitor(-1)  # the tie class is taken from the first call
    _train(model, monitor, 3, noise=1e-3)
    last = monitor.records[-1]
    assert last.effective_width == 5 and last.drift[0] > 1e-4


def test_zero_units_are_reported_and_bad_every_is_refused():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    with torch.no_grad():
        model[0].weight[2] = 0
        model[0].bias[2] = 0
        model[2].weight[:, 2] = 0
    (record,) = CollapseMonitor(model, torch.zeros(1, 3))(0)
    assert record.zero_units == (2,) and record.effective_width == 4
    with pytest.raises(InvalidArgument, match="every=0"):
        CollapseMonitor(model, torch.zeros(1, 3), every=0)


# lightning's own warnings (a deprecated torch pytree name, DataLoader worker advice) are
# not about the callback.
@pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning")
@pytest.mark.filterwarnings("ignore:.*does not have many workers.*:UserWarning")
def test_the_lightning_callback_runs_in_a_real_trainer(tmp_path):
    lightning = pytest.importorskip("lightning")

    class Module(lightning.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = _constant_mlp().float()

        def training_step(self, batch, _):
            x, y = batch
            return nn.functional.mse_loss(self.net(x), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    module = Module()
    data = torch.utils.data.TensorDataset(torch.randn(16, 3), torch.randn(16, 2))
    monitor = CollapseMonitor(module.net, torch.zeros(1, 3), every=1)
    trainer = lightning.Trainer(
        max_steps=4,
        callbacks=[lightning_callback(monitor)],
        default_root_dir=tmp_path,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(module, torch.utils.data.DataLoader(data, batch_size=4))
    assert [r.step for r in monitor.records] == [1, 2, 3, 4]
    assert all(r.effective_width == 1 and r.drift == (0.0,) for r in monitor.records)
