"""Unit tests of the initialiser catalogue (symcheck.model.init)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from symcheck import InvalidArgument, Network
from symcheck.model.init import (
    INITIALIZERS,
    calculate_gain,
    canonical_initializers,
    fans,
    get_initializer,
    initialize,
    orthogonal,
    truncated_normal,
    variance_scaling,
    zero_hadamard,
)

# Names the agreed API promises (docs/init-optim-api): every one must resolve.
API_NAMES = (
    "zeros constant normal uniform truncated_normal xavier_uniform xavier_normal "
    "glorot_uniform glorot_normal kaiming_uniform kaiming_normal he_uniform he_normal "
    "lecun_uniform lecun_normal orthogonal eye zero_hadamard classic_normal "
    "classic_normal_variance classic_uniform"
).split()

# Entries drawn for the statistical checks: enough that the sampling error of
# a variance estimate, sqrt((kurtosis - 1) / N) relative, is below 0.5 %.
_N_OUT, _N_IN = 400, 250
_SAMPLES = _N_OUT * _N_IN


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _variance_tolerance(kurtosis: float) -> float:
    """Six standard errors of the relative sample variance (iid entries)."""
    return 6.0 * math.sqrt((kurtosis - 1.0) / _SAMPLES)


def test_every_api_name_resolves_to_a_record():
    for name in API_NAMES:
        assert get_initializer(name).name in INITIALIZERS


def test_aliases_share_the_record_of_their_canonical_name():
    assert get_initializer("glorot_uniform") is get_initializer("xavier_uniform")
    assert get_initializer("glorot_normal") is get_initializer("xavier_normal")
    assert get_initializer("he_uniform") is get_initializer("kaiming_uniform")
    assert get_initializer("he_normal") is get_initializer("kaiming_normal")


def test_canonical_list_holds_each_record_once():
    names = [r.name for r in canonical_initializers()]
    assert len(names) == len(set(names))
    assert set(names) == {r.name for r in INITIALIZERS.values()}


@pytest.mark.parametrize("record", canonical_initializers(), ids=lambda r: r.name)
def test_every_initializer_returns_float64_of_the_requested_shape(record):
    w = record((3, 5), rng=_rng())
    assert w.shape == (3, 5)
    assert w.dtype == np.float64
    assert np.all(np.isfinite(w))


@pytest.mark.parametrize("record", canonical_initializers(), ids=lambda r: r.name)
def test_the_same_seed_gives_the_same_draw(record):
    np.testing.assert_array_equal(record((4, 3), rng=_rng(7)), record((4, 3), rng=_rng(7)))


@pytest.mark.parametrize(
    "record", [r for r in canonical_initializers() if not r.deterministic], ids=lambda r: r.name
)
def test_random_schemes_differ_between_seeds(record):
    assert not np.array_equal(record((4, 3), rng=_rng(1)), record((4, 3), rng=_rng(2)))


@pytest.mark.parametrize(
    "record", [r for r in canonical_initializers() if r.deterministic], ids=lambda r: r.name
)
def test_deterministic_schemes_need_no_generator(record):
    np.testing.assert_array_equal(record((4, 3)), record((4, 3), rng=_rng(3)))


def test_fans_follow_the_pytorch_layout():
    assert fans((3, 5)) == (5, 3)
    assert fans((8, 4, 3, 3)) == (36, 72)


def test_gains_are_the_values_documented_by_torch_nn_init():
    documented = {
        "linear": 1.0,
        "conv2d": 1.0,
        "sigmoid": 1.0,
        "tanh": 5.0 / 3.0,
        "relu": math.sqrt(2.0),
        "selu": 3.0 / 4.0,
    }
    for name, gain in documented.items():
        assert calculate_gain(name) == gain
    for slope, param in ((0.01, None), (0.0, 0.0), (0.2, 0.2)):
        assert calculate_gain("leaky_relu", param) == math.sqrt(2.0 / (1.0 + slope**2))


def test_unknown_gain_names_are_rejected_even_when_close():
    with pytest.raises(InvalidArgument, match="nonlinearity='Tanhh'"):
        calculate_gain("Tanhh")


# (name, options, target variance as a function of (fan_in, fan_out), kurtosis)
_VARIANCES = [
    ("normal", {"std": 0.5}, lambda fi, fo: 0.25, 3.0),
    ("uniform", {"a": -1.0, "b": 1.0}, lambda fi, fo: 1 / 3, 1.8),
    ("xavier_uniform", {}, lambda fi, fo: 2 / (fi + fo), 1.8),
    ("xavier_normal", {"gain": 2.0}, lambda fi, fo: 8 / (fi + fo), 3.0),
    ("kaiming_uniform", {}, lambda fi, fo: 2 / fi, 1.8),
    ("kaiming_normal", {"mode": "fan_out"}, lambda fi, fo: 2 / fo, 3.0),
    ("kaiming_normal", {"nonlinearity": "tanh"}, lambda fi, fo: (5 / 3) ** 2 / fi, 3.0),
    ("lecun_uniform", {}, lambda fi, fo: 1 / fi, 1.8),
    # kurtosis of a normal truncated at two standard deviations is about 2.36
    ("lecun_normal", {}, lambda fi, fo: 1 / fi, 2.4),
    ("classic_normal", {}, lambda fi, fo: 1e-4, 3.0),
    ("classic_normal_variance", {}, lambda fi, fo: 1e-2, 3.0),
    ("classic_uniform", {}, lambda fi, fo: 1e-4 / 3, 1.8),
]


@pytest.mark.parametrize(("name", "options", "target", "kurtosis"), _VARIANCES)
def test_sample_variance_matches_the_formula(name, options, target, kurtosis):
    w = get_initializer(name)((_N_OUT, _N_IN), rng=_rng(11), **options)
    want = target(_N_IN, _N_OUT)
    assert abs(np.mean(w**2) / want - 1.0) < _variance_tolerance(kurtosis)


def test_sample_variance_check_rejects_the_other_reading_of_n_0_001():
    """The check above can fail: the variance reading is 100x the std reading."""
    w = get_initializer("classic_normal_variance")((_N_OUT, _N_IN), rng=_rng(11))
    assert abs(np.mean(w**2) / 1e-4 - 1.0) > _variance_tolerance(3.0)


def test_classic_presets_document_both_readings_of_n_0_001():
    assert "std 0.01" in get_initializer("classic_normal").summary
    assert "variance 0.01" in get_initializer("classic_normal_variance").summary


def test_uniform_schemes_stay_inside_their_bounds():
    fi, fo = _N_IN, _N_OUT
    bound = math.sqrt(6 / (fi + fo))
    assert np.max(np.abs(get_initializer("xavier_uniform")((fo, fi), rng=_rng()))) <= bound
    assert np.max(np.abs(get_initializer("classic_uniform")((fo, fi), rng=_rng()))) <= 0.01


def test_truncated_normal_stays_inside_its_absolute_bounds():
    w = truncated_normal((200, 200), rng=_rng(), mean=1.0, std=2.0, a=0.0, b=1.5)
    assert w.min() >= 0.0
    assert w.max() <= 1.5


def test_truncated_variance_scaling_is_corrected_to_the_target_variance():
    w = variance_scaling(
        (_N_OUT, _N_IN), rng=_rng(5), scale=2.0, mode="fan_in", distribution="truncated_normal"
    )
    assert abs(np.mean(w**2) * _N_IN / 2.0 - 1.0) < _variance_tolerance(2.4)


def test_orthogonal_rows_are_orthonormal_when_wide_and_columns_when_tall():
    # Q from Householder QR is orthogonal to within a few ulps times the size.
    tol = 8 * 5 * np.finfo(np.float64).eps
    wide = orthogonal((3, 5), rng=_rng(), gain=2.0)
    np.testing.assert_allclose(wide @ wide.T, 4.0 * np.eye(3), rtol=0, atol=4.0 * tol)
    tall = orthogonal((5, 3), rng=_rng())
    np.testing.assert_allclose(tall.T @ tall, np.eye(3), rtol=0, atol=tol)


def test_zero_hadamard_rows_and_columns_are_pairwise_distinct_and_entries_nonzero():
    for shape in [(1, 1), (4, 2), (8, 1), (1, 8), (3, 7), (16, 16), (5, 3)]:
        w = zero_hadamard(shape)
        assert np.all(w != 0)
        assert len({row.tobytes() for row in w}) == shape[0]
        assert len({col.tobytes() for col in w.T}) == shape[1]


def test_literal_zero_construction_would_tie_neurons_in_2_4_1():
    """Why zero_hadamard departs from ZerO's algorithm (documented in its docstring)."""
    h = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]], dtype=float)
    w1 = 2**-0.5 * h[:, :2]  # widening layer 2 -> 4: c I* H I*
    w2 = np.eye(1, 4)  # narrowing layer 4 -> 1: partial identity
    tied = np.array_equal(w1[1], w1[3]) and np.array_equal(w2[:, 1], w2[:, 3])
    assert tied
    ours1, ours2 = zero_hadamard((4, 2)), zero_hadamard((1, 4))
    assert not (np.array_equal(ours1[1], ours1[3]) and np.array_equal(ours2[:, 1], ours2[:, 3]))


@pytest.mark.parametrize(
    "record", [r for r in canonical_initializers() if r.has_density], ids=lambda r: r.name
)
def test_every_density_scheme_gives_pairwise_distinct_rows(record):
    w = record((6, 3), rng=_rng(4))
    assert len({row.tobytes() for row in w}) == 6


def test_initialize_builds_params_for_every_layer_with_constant_biases():
    net = Network.parse("3-4-2")
    params = initialize(net, "he_normal", rng=_rng(), bias=0.25)
    assert [w.shape for w, _ in params] == [(4, 3), (2, 4)]
    for w, b in params:
        np.testing.assert_array_equal(b, np.full(w.shape[0], 0.25))


def test_initialize_gives_no_biases_for_a_network_without_bias():
    params = initialize(Network.parse("2-2-1", bias=False), "zeros")
    assert all(b is None for _, b in params)


def test_initialize_passes_options_to_the_scheme():
    params = initialize(Network.parse("2-3-1"), "constant", value=0.5)
    assert all(np.all(w == 0.5) for w, _ in params)


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: get_initializer("xavier"), "initializer='xavier' is not supported"),
        (lambda: get_initializer("normal")((2, 2)), "numpy.random.Generator"),
        (lambda: get_initializer("normal")((2, 2), rng=42), "rng=42"),
        (lambda: get_initializer("normal")((2, -1), rng=_rng()), "positive ints"),
        (lambda: get_initializer("normal")("3x3", rng=_rng()), "positive ints"),
        (lambda: get_initializer("normal")((2, 2), rng=_rng(), std=0.0), "std=0.0"),
        (lambda: get_initializer("normal")((2, 2), rng=_rng(), sigma=1.0), "no option 'sigma'"),
        (lambda: get_initializer("uniform")((2,), rng=_rng(), a=1.0, b=0.0), "a < b"),
        (lambda: get_initializer("xavier_uniform")((5,), rng=_rng()), "fan_in and fan_out"),
        (lambda: get_initializer("kaiming_normal")((2, 2), rng=_rng(), mode="avg"), "mode="),
        (
            lambda: get_initializer("kaiming_normal")((2, 2), rng=_rng(), nonlinearity="gelu"),
            "nonlinearity='gelu'",
        ),
        (lambda: calculate_gain("leaky_relu", "big"), "param='big'"),
        (
            lambda: variance_scaling(
                (2, 2), rng=_rng(), scale=1.0, mode="fan_in", distribution="x"
            ),
            "distribution='x'",
        ),
        (lambda: truncated_normal((2,), rng=_rng(), a=10.0, b=11.0), "keeps only"),
        (lambda: get_initializer("constant")((2,), value=float("nan")), "finite"),
        (lambda: get_initializer("eye")((2, 2, 2)), "2-dimensional"),
        (lambda: get_initializer("orthogonal")((3,), rng=_rng()), "2 or more"),
        (lambda: initialize("2-2-1", "zeros"), "symcheck.Network"),
        (lambda: initialize(Network.parse("2-2-1"), "zeros", bias=None), "bias=None"),
    ],
)
def test_invalid_arguments_are_rejected_with_a_message_naming_the_value(call, fragment):
    with pytest.raises(InvalidArgument, match=None) as info:
        call()
    assert fragment in str(info.value)
