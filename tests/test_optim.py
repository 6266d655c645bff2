"""Unit tests of the optimisers (symcheck.measure.optim)."""

from __future__ import annotations

import numpy as np
import pytest

from symcheck import InvalidArgument
from symcheck.measure import optim
from symcheck.measure.optim import OPTIMIZERS, get_optimizer

# (symcheck name, symcheck options, torch class name, torch options)
_TORCH_TWINS = [
    ("sgd", {}, "SGD", {}),
    ("sgd", {"weight_decay": 0.1}, "SGD", {"weight_decay": 0.1}),
    ("momentum", {}, "SGD", {"momentum": 0.9}),
    ("nesterov", {"momentum": 0.5}, "SGD", {"momentum": 0.5, "nesterov": True}),
    ("adam", {"weight_decay": 0.1}, "Adam", {"weight_decay": 0.1}),
    ("adamw", {}, "AdamW", {}),
    (
        "adamw",
        {"weight_decay": 0.3, "beta1": 0.5},
        "AdamW",
        {"weight_decay": 0.3, "betas": (0.5, 0.999)},
    ),
    ("rmsprop", {}, "RMSprop", {}),
    ("adagrad", {"weight_decay": 0.05}, "Adagrad", {"weight_decay": 0.05}),
]


def _start() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [(rng.normal(size=(3, 2)), rng.normal(size=3))]


def _fake_grad(p: np.ndarray, k: int) -> np.ndarray:
    """A gradient field that depends on the parameters and the step."""
    return np.sin((k + 1) * p)


def _run_against_torch(torch, name, options, torch_name, torch_options, steps=5):
    opt = get_optimizer(name, lr=0.1, **options)
    params = _start()
    state = opt.init(params)
    tw, tb = (torch.tensor(a, requires_grad=True) for a in params[0])
    topt = getattr(torch.optim, torch_name)([tw, tb], lr=0.1, foreach=False, **torch_options)
    for k in range(steps):
        grads = [(_fake_grad(params[0][0], k), _fake_grad(params[0][1], k))]
        params, state = opt.step(params, grads, state)
        tw.grad = torch.tensor(_fake_grad(tw.detach().numpy(), k))
        tb.grad = torch.tensor(_fake_grad(tb.detach().numpy(), k))
        topt.step()
    return max(
        np.max(np.abs(params[0][0] - tw.detach().numpy())),
        np.max(np.abs(params[0][1] - tb.detach().numpy())),
    )


def test_five_steps_match_torch_optim_to_a_few_ulps():
    # One test for every twin: importing torch.optim's machinery costs
    # seconds per xdist worker, so only one worker pays it.
    torch = pytest.importorskip("torch")
    # Both sides evaluate the same formulas in float64 in different orders:
    # a few roundings of O(1) numbers per step, over 5 steps.
    tol = 5 * 8 * np.finfo(np.float64).eps
    for name, options, torch_name, torch_options in _TORCH_TWINS:
        error = _run_against_torch(torch, name, options, torch_name, torch_options)
        assert error <= tol, (name, options, error)
    # The comparison can fail: heavy ball with momentum 0.8 is not torch's 0.9.
    wrong = _run_against_torch(torch, "momentum", {"momentum": 0.8}, "SGD", {"momentum": 0.9})
    assert wrong > 1e3 * tol


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_step_is_pure_and_never_mutates_its_inputs(name):
    opt = get_optimizer(name, lr=0.1, l1=0.01, clip_norm=1.0)
    params = _start()
    grads = [(np.ones((3, 2)), np.ones(3))]
    copies = [(w.copy(), b.copy()) for w, b in params]
    state = opt.init(params)
    new_params, new_state = opt.step(params, grads, state)
    again, _ = opt.step(params, grads, state)
    for (w, b), (cw, cb) in zip(params, copies):
        np.testing.assert_array_equal(w, cw)
        np.testing.assert_array_equal(b, cb)
    assert state.count == 0 and new_state.count == 1
    np.testing.assert_array_equal(new_params[0][0], again[0][0])
    assert not np.array_equal(new_params[0][0], params[0][0])


def _graph_like_params(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {"fc1.weight": rng.normal(size=(4, 3)), "fc1.bias": rng.normal(size=4)}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_step_inplace_equals_step_bit_for_bit_and_overwrites_the_arrays(name):
    rng = np.random.default_rng(3)
    opt = get_optimizer(name, lr=0.1, weight_decay=0.01, clip_value=0.8)
    pure = _graph_like_params(rng)
    owned = {k: v.copy() for k, v in pure.items()}
    pure_state, state = opt.init(pure), opt.init(owned)
    arrays = dict(owned)
    for k in range(4):
        grads = {key: np.sin((k + 1) * value) for key, value in pure.items()}
        scale = {"fc1.weight": np.full((4, 1), 0.5), "fc1.bias": np.full(4, 2.0)} if k else None
        pure, pure_state = opt.step(pure, grads, pure_state, lr_scale=scale)
        state = opt.step_inplace(owned, grads, state, lr_scale=scale)
    assert state.count == pure_state.count == 4
    for key in pure:
        assert owned[key] is arrays[key]  # written in place
        np.testing.assert_array_equal(owned[key], pure[key], strict=True)
    for mine, theirs in zip(state.slots, pure_state.slots):
        for a, b in zip(mine, theirs):
            np.testing.assert_array_equal(a, b, strict=True)


def test_step_inplace_comparison_can_fail():
    # The sibling of the bit-for-bit test: another learning rate differs.
    rng = np.random.default_rng(3)
    params = _graph_like_params(rng)
    owned = {k: v.copy() for k, v in params.items()}
    grads = {k: np.cos(v) for k, v in params.items()}
    new, _ = get_optimizer("adam", lr=0.1).step(
        params, grads, get_optimizer("adam", lr=0.1).init(params)
    )
    other = get_optimizer("adam", lr=0.1 * (1 + 1e-15))
    other.step_inplace(owned, grads, other.init(owned))
    assert not np.array_equal(owned["fc1.weight"], new["fc1.weight"])


def test_a_parameter_mapping_steps_like_the_pair_list_and_keeps_its_keys():
    rng = np.random.default_rng(5)
    w, b = rng.normal(size=(4, 3)), rng.normal(size=4)
    opt = get_optimizer("adam", lr=0.1)
    pairs, _ = opt.step([(w, b)], [(np.sin(w), np.sin(b))], opt.init([(w, b)]))
    # Keys in another order than the params: matched by name, not position.
    params = {"fc1.weight": w, "fc1.bias": b}
    grads = {"fc1.bias": np.sin(b), "fc1.weight": np.sin(w)}
    named, _ = opt.step(params, grads, opt.init(params))
    assert list(named) == ["fc1.weight", "fc1.bias"]
    np.testing.assert_array_equal(named["fc1.weight"], pairs[0][0])
    np.testing.assert_array_equal(named["fc1.bias"], pairs[0][1])


@pytest.mark.parametrize(
    ("params", "grads", "fragment"),
    [
        ({"w": np.zeros((2, 2), dtype=int)}, {"w": np.ones((2, 2))}, "a int64 array"),
        ({"w": np.zeros((2, 2))}, {"w": np.ones((2, 3))}, "has shape (2, 3)"),
        ({"w": np.zeros((2, 2))}, {"v": np.ones((2, 2))}, "name different arrays (['v', 'w'])"),
    ],
)
def test_step_inplace_refuses_arrays_it_cannot_overwrite(params, grads, fragment):
    opt = get_optimizer("sgd", lr=0.1)
    with pytest.raises(InvalidArgument) as info:
        opt.step_inplace(params, grads, opt.init(params))
    assert fragment in str(info.value)


def test_step_inplace_refuses_a_read_only_array():
    w = np.zeros((2, 2))
    w.flags.writeable = False
    opt = get_optimizer("sgd", lr=0.1)
    with pytest.raises(InvalidArgument, match=r"read-only"):
        opt.step_inplace({"w": w}, {"w": np.ones((2, 2))}, opt.init({"w": w}))


def test_sgd_step_is_exact_on_dyadic_numbers():
    # 1/2 - 1/4 * 1 = 1/4 exactly: every operation is exact in binary.
    opt = get_optimizer("sgd", lr=0.25)
    params = [(np.full((1, 1), 0.5), None)]
    new, _ = opt.step(params, [(np.ones((1, 1)), None)], opt.init(params))
    assert new[0][0][0, 0] == 0.25
    assert new[0][1] is None


def test_global_norm_clipping_rescales_all_arrays_together():
    opt = get_optimizer("sgd", lr=1.0, clip_norm=1.0)
    params = [(np.zeros((1, 2)), np.zeros(1))]
    grads = [(np.array([[3.0, 0.0]]), np.array([4.0]))]  # global norm 5
    new, _ = opt.step(params, grads, opt.init(params))
    factor = 1.0 / (5.0 + 1e-6)
    np.testing.assert_allclose(new[0][0], [[-3.0 * factor, 0.0]], rtol=4 * np.finfo(float).eps)
    np.testing.assert_allclose(new[0][1], [-4.0 * factor], rtol=4 * np.finfo(float).eps)


def test_elementwise_clipping_and_l1_decay_are_applied_in_order():
    opt = get_optimizer("sgd", lr=1.0, clip_value=0.5, l1=0.125)
    params = [(np.array([[1.0, -1.0]]), None)]
    grads = [(np.array([[2.0, -0.25]]), None)]
    new, _ = opt.step(params, grads, opt.init(params))
    # clip: (0.5, -0.25); plus l1*sign(p): (0.625, -0.375); exact dyadics.
    np.testing.assert_array_equal(new[0][0], [[1.0 - 0.625, -1.0 + 0.375]])


def test_adamw_decays_the_weights_even_with_zero_gradient():
    opt = get_optimizer("adamw", lr=0.5, weight_decay=0.5)
    params = [(np.ones((1, 1)), None)]
    new, _ = opt.step(params, [(np.zeros((1, 1)), None)], opt.init(params))
    assert new[0][0][0, 0] == 0.75


def test_per_element_learning_rate_scale_multiplies_the_step():
    opt = get_optimizer("sgd", lr=0.5)
    params = [(np.zeros((2, 1)), np.zeros(2))]
    grads = [(np.ones((2, 1)), np.ones(2))]
    scale = [(np.array([[1.0], [0.5]]), np.array([1.0, 0.5]))]
    new, _ = opt.step(params, grads, opt.init(params), lr_scale=scale)
    np.testing.assert_array_equal(new[0][0], [[-0.5], [-0.25]])
    np.testing.assert_array_equal(new[0][1], [-0.5, -0.25])


def test_str_names_the_optimizer_and_its_options():
    assert str(get_optimizer("adam", lr=0.01, clip_norm=2.0)).startswith("adam(lr=0.01")
    assert "clip_norm=2" in str(get_optimizer("adam", lr=0.01, clip_norm=2.0))


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: get_optimizer("adamm", lr=0.1), "optimizer='adamm' is not supported"),
        (lambda: get_optimizer("sgd", lr=0.0), "lr=0.0 must be positive"),
        (lambda: get_optimizer("sgd", lr=-1.0), "lr=-1.0"),
        (lambda: get_optimizer("sgd", lr="fast"), "lr='fast'"),
        (lambda: get_optimizer("sgd", lr=0.1, momentum=0.9), "sgd option='momentum'"),
        (lambda: get_optimizer("adam", lr=0.1, beta1=1.0), "beta1=1.0 must be < 1"),
        (lambda: get_optimizer("adam", lr=0.1, eps=float("inf")), "eps=inf"),
        (lambda: get_optimizer("sgd", lr=0.1, clip_norm=0), "clip_norm=0"),
        (lambda: get_optimizer("sgd", lr=0.1, weight_decay=-0.1), "weight_decay=-0.1"),
        (
            lambda: get_optimizer("sgd", lr=0.1).step(
                _start(), [], get_optimizer("sgd", lr=0.1).init(_start())
            ),
            "grads 0",
        ),
        (
            lambda: get_optimizer("sgd", lr=0.1).step(
                _start(), _start(), get_optimizer("sgd", lr=0.1).init(_start()), lr_scale=[]
            ),
            "lr_scale has 0 arrays",
        ),
    ],
)
def test_invalid_optimizer_arguments_are_rejected_with_a_message(call, fragment):
    with pytest.raises(InvalidArgument) as info:
        call()
    assert fragment in str(info.value)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_updating_large_arrays_piece_by_piece_changes_no_bit(name, monkeypatch):
    # (2, 20000) C-ordered is cut into pieces, the F-ordered one is not; the
    # per-row learning-rate scale is broadcast before it is cut.
    rng = np.random.default_rng(7)
    params = {
        "w": rng.normal(size=(2, 20_000)),
        "f": np.asfortranarray(rng.normal(size=(3, 9_000))),
        "b": rng.normal(size=5),
    }
    grads = {k: np.sin(3 * v) for k, v in params.items()}
    scale = {"w": np.array([[0.5], [2.0]]), "f": np.ones((3, 1)), "b": np.full(5, 0.25)}
    opt = get_optimizer(name, lr=0.01, weight_decay=0.02)

    def run(chunk):
        monkeypatch.setattr(optim, "_CHUNK", chunk)
        owned = {k: v.copy(order="K") for k, v in params.items()}
        state = opt.init(owned)
        for _ in range(3):
            state = opt.step_inplace(owned, grads, state, lr_scale=scale)
        return owned

    pieces, whole = run(1 << 12), run(1 << 30)
    for key in params:
        np.testing.assert_array_equal(pieces[key], whole[key], strict=True)
    assert not np.array_equal(pieces["w"], params["w"])
