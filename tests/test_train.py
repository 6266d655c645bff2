"""Unit tests of the training loop and its breakers (symcheck.measure.train)."""

from __future__ import annotations

import numpy as np
import pytest

from symcheck import InvalidArgument, Network
from symcheck.measure import numeric
from symcheck.measure.optim import get_optimizer
from symcheck.measure.train import train
from symcheck.model.init import initialize
from symcheck.model.neurons import pair_gaps, signatures

NET = Network.parse("2-2-1", activation="tanh")
X = np.array([[1.0, 2.0], [0.5, -1.0]])
Y = np.array([[1.0], [0.0]])


def _tied() -> list:
    return [
        (np.array([[0.5, -0.25], [0.5, -0.25]]), np.array([0.125, 0.125])),
        (np.array([[0.75, 0.75]]), np.array([0.0])),
    ]


def test_trajectory_records_every_step_and_its_full_data_loss():
    traj = train(NET, _tied(), (X, Y), get_optimizer("sgd", lr=0.1), 3)
    assert traj.steps == (0, 1, 2, 3)
    assert traj.weights(1).shape == (4, 2, 2)
    assert traj.biases(2).shape == (4, 1)
    for params, value in zip(traj.params, traj.losses):
        assert value == float(numeric.loss(NET, params, X, Y))


def test_one_sgd_step_equals_params_minus_lr_times_gradients():
    params = _tied()
    grads = numeric.gradients(NET, params, X, Y)
    traj = train(NET, params, (X, Y), get_optimizer("sgd", lr=0.25), 1)
    for (w, b), (gw, gb), (nw, nb) in zip(params, grads, traj.final):
        np.testing.assert_array_equal(nw, w - 0.25 * gw)
        np.testing.assert_array_equal(nb, b - 0.25 * gb)


def test_record_every_keeps_the_start_every_kth_step_and_the_last():
    traj = train(NET, _tied(), (X, Y), get_optimizer("sgd", lr=0.1), 5, record_every=2)
    assert traj.steps == (0, 2, 4, 5)


def test_mini_batches_are_taken_in_order():
    opt = get_optimizer("sgd", lr=0.1)
    traj = train(NET, _tied(), (X, Y), opt, 2, batch_size=1)
    first = opt.step(_tied(), numeric.gradients(NET, _tied(), X[:1], Y[:1]), opt.init(_tied()))
    np.testing.assert_array_equal(traj.params[1][0][0], first[0][0][0])


def test_train_does_not_mutate_the_starting_params():
    params = _tied()
    train(
        NET,
        params,
        (X, Y),
        get_optimizer("adam", lr=0.1),
        2,
        rng=np.random.default_rng(0),
        weight_noise=0.1,
    )
    np.testing.assert_array_equal(params[0][0], _tied()[0][0])


def test_without_breakers_tied_neurons_stay_bitwise_tied():
    traj = train(NET, _tied(), (X, Y), get_optimizer("momentum", lr=0.1), 5)
    assert pair_gaps(signatures(traj.final, 1))[0, 1] == 0.0


@pytest.mark.parametrize(
    "breaker",
    [
        {"dropout": 0.5},
        {"weight_noise": 0.01},
        {"grad_noise": 0.01},
        {"lr_scale": [np.array([1.0, 0.5]), None]},
    ],
    ids=lambda b: next(iter(b)),
)
def test_each_breaker_separates_tied_neurons(breaker):
    traj = train(
        NET,
        _tied(),
        (X, Y),
        get_optimizer("sgd", lr=0.5),
        5,
        rng=np.random.default_rng(3),
        **breaker,
    )
    assert pair_gaps(signatures(traj.final, 1))[0, 1] > 1e-6
    assert set(traj.breakers) == set(breaker)


def test_dropout_changes_nothing_for_tanh_with_all_zero_weights():
    """The non-degeneracy condition of the dropout breaker, shown failing."""
    net = Network.parse("2-2-1", activation="tanh")
    traj = train(
        net,
        initialize(net, "zeros"),
        (X, Y),
        get_optimizer("sgd", lr=0.5),
        5,
        rng=np.random.default_rng(0),
        dropout=0.5,
    )
    assert np.all(traj.final[0][0] == 0)
    assert np.all(traj.final[1][0] == 0)


def test_the_same_seed_gives_the_same_noisy_run():
    def run():
        return train(
            NET,
            _tied(),
            (X, Y),
            get_optimizer("sgd", lr=0.5),
            3,
            rng=np.random.default_rng(9),
            dropout=0.3,
            weight_noise=0.01,
        )

    np.testing.assert_array_equal(run().weights(1), run().weights(1))


def test_a_network_without_bias_records_no_biases():
    net = Network.parse("2-2-1", bias=False)
    traj = train(net, initialize(net, "zero_hadamard"), (X, Y), get_optimizer("sgd", lr=0.1), 1)
    assert traj.biases(1) is None


SGD = get_optimizer("sgd", lr=0.1)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"network": "2-2-1"}, "symcheck.Network"),
        ({"optimizer": "sgd"}, "get_optimizer"),
        ({"steps": -1}, "steps=-1"),
        ({"steps": 2.5}, "steps=2.5"),
        ({"steps": 10**7}, "exceeds the limit"),
        ({"record_every": 0}, "record_every=0"),
        ({"dropout": 1.0, "rng": np.random.default_rng(0)}, "dropout=1.0"),
        ({"weight_noise": -0.1, "rng": np.random.default_rng(0)}, "weight_noise=-0.1"),
        ({"grad_noise": 0.1}, "numpy.random.Generator"),
        ({"data": X}, "pair (x, y)"),
        ({"data": (X, Y[:1])}, "y has shape"),
        ({"data": (X[:, :1], Y)}, "x has shape"),
        ({"batch_size": 3}, "batch_size=3"),
        ({"lr_scale": [None]}, "lr_scale has 1 entries"),
        ({"lr_scale": [np.ones(3), None]}, "lr_scale[0]"),
        ({"lr_scale": [np.array([1.0, -1.0]), None]}, "lr_scale[0]"),
        ({"params": [(np.zeros((2, 2)), np.zeros(2))]}, "params has 1 layers"),
    ],
)
def test_invalid_training_arguments_are_rejected_with_a_message(kwargs, fragment):
    call = {"network": NET, "params": _tied(), "data": (X, Y), "optimizer": SGD, "steps": 1}
    call.update(kwargs)
    with pytest.raises(InvalidArgument) as info:
        train(
            call.pop("network"),
            call.pop("params"),
            call.pop("data"),
            call.pop("optimizer"),
            call.pop("steps"),
            **call,
        )
    assert fragment in str(info.value)


def test_trajectory_rejects_a_layer_outside_the_network():
    traj = train(NET, _tied(), (X, Y), SGD, 1)
    with pytest.raises(InvalidArgument, match="layer=3"):
        traj.weights(3)
