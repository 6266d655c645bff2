"""Public functions of the PyTorch front end (theory: docs/theory.md, "unit spaces").

* :func:`symmetries` — the inferred unit spaces of the module's graph,
  keyed by the module's parameter (and buffer) names;
* :func:`tie_classes` — the units of each space whose parameters are equal
  right now, each class certified by a permutation of the space that maps
  every parameter, buffer and constant exactly onto itself;
* :func:`gradients` — float64 loss gradients from symcheck's graph engine,
  keyed by parameter name, for a symcheck loss name or a torch loss module
  (:data:`TORCH_LOSSES` states each conversion).

Each result has ``to_json()``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from symcheck.errors import InvalidArgument, choices_message
from symcheck.graph.evaluate import loss_and_gradients
from symcheck.graph.symmetry import (
    Symmetries,
    UnitSpace,
    apply_permutation,
    infer_symmetries,
    unit_entries,
)
from symcheck.prove.proof import Proof
from symcheck.torch.capture import capture, to_numpy
from symcheck.torch.labels import module_labels
from symcheck.torch.translate import Translation, translate

__all__ = [
    "LOSS_NAMES",
    "TORCH_LOSSES",
    "Gradients",
    "LossConversion",
    "TieClass",
    "TieClasses",
    "gradients",
    "prove",
    "symmetries",
    "tie_classes",
    "translate_module",
    "unit_entries",
]

LOSS_NAMES = ("mse", "cross_entropy", "bce")


def translate_module(model: object, example_inputs: object) -> Translation:
    """Capture and translate ``model`` (the common first step of every function here)."""
    return translate(capture(model, example_inputs))


def symmetries(model: object, example_inputs: object) -> Symmetries:
    """The unit spaces of ``model`` (``to_json()``: the graph core's ``spaces``/``parameters``)."""
    graph = translate_module(model, example_inputs).graph
    return infer_symmetries(graph, labels=module_labels(model))


# ---------------------------------------------------------------- tie classes


@dataclass(frozen=True)
class TieClass:
    """Units of one space with identical parameters, and the permutation certifying it."""

    space: str
    units: tuple[int, ...]
    certificate: tuple[int, ...]  # a cycle through ``units``; it fixes every value exactly

    def to_json(self) -> dict[str, object]:
        return {
            "space": self.space,
            "units": list(self.units),
            "certificate": list(self.certificate),
        }


@dataclass(frozen=True)
class TieClasses:
    """Every tie class (two or more units) of every movable space."""

    symmetries: Symmetries
    classes: tuple[TieClass, ...]

    @property
    def tied(self) -> bool:
        return bool(self.classes)

    def in_space(self, name: str) -> tuple[TieClass, ...]:
        self.symmetries.space(name)  # refuses an unknown name
        return tuple(c for c in self.classes if c.space == name)

    def to_json(self) -> dict[str, object]:
        return {
            "spaces": [
                {
                    "name": s.name,
                    "kind": s.kind,
                    "size": s.size,
                    "group": s.group,
                    "classes": [c.to_json() for c in self.in_space(s.name)],
                }
                for s in self.symmetries.movable
            ],
            "tied": self.tied,
        }


def _unit_slices(values: Mapping[str, np.ndarray], space: UnitSpace, unit: int) -> tuple:
    """Every axis's entries of ``unit``, as bytes (exact equality)."""
    return tuple(unit_entries(values[r.parameter], space, r, unit).tobytes() for r in space.axes)


def _candidates(space: UnitSpace, values: Mapping[str, np.ndarray]) -> list[list[int]]:
    blocks = space.blocks if space.group == "restricted" and space.blocks else (range(space.size),)
    found = []
    for block in blocks:
        groups: dict[tuple, list[int]] = {}
        for unit in block:
            groups.setdefault(_unit_slices(values, space, unit), []).append(unit)
        found.extend(g for g in groups.values() if len(g) > 1)
    return found


def tie_classes(model: object, example_inputs: object) -> TieClasses:
    """The tie classes of the current parameters, each certified (see :class:`TieClass`)."""
    translation = translate_module(model, example_inputs)
    graph, values = translation.graph, translation.values
    found = infer_symmetries(graph, labels=module_labels(model))
    classes = []
    for space in found.movable:
        for units in _candidates(space, values):
            perm = list(range(space.size))
            for a, b in zip(units, (*units[1:], units[0])):
                perm[a] = b
            moved = apply_permutation(graph, values, space, perm)
            if all(np.array_equal(moved[p], values[p]) for p in graph.parameter_names):
                classes.append(TieClass(space.name, tuple(units), tuple(perm)))
    return TieClasses(found, tuple(classes))


# ---------------------------------------------------------------- gradients


@dataclass(frozen=True)
class LossConversion:
    """How a torch loss maps onto a symcheck loss: torch's loss = ``factor`` x symcheck's."""

    name: str
    reduction: str
    factor: Callable[[tuple[int, ...]], float]  # of the output shape
    target: Callable[[np.ndarray, tuple[int, ...]], np.ndarray]


def _float_target(target: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if target.shape != shape:
        raise InvalidArgument(f"targets have shape {target.shape}; the model output is {shape}")
    return target.astype(np.float64)


def _class_target(target: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Class indices (B,) become one-hot rows; probabilities (B, C) pass as they are."""
    if len(shape) != 2:
        raise InvalidArgument(
            f"CrossEntropyLoss needs a (batch, classes) output, got {shape}; flatten the "
            "positions into the batch or use loss='cross_entropy' (last axis = classes)"
        )
    if target.dtype.kind in "iu" and target.shape == shape[:1]:
        if target.min() < 0 or target.max() >= shape[1]:
            raise InvalidArgument(f"class indices must be in 0..{shape[1] - 1}")
        return np.eye(shape[1])[target]
    return _float_target(target, shape)


def _numel(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape))


# torch's MSELoss is mean (or sum) of (y - t)^2 over *all* elements; symcheck's mse is
# 1/2 sum of squares per sample: torch = 2 / numel x symcheck-sum (2 x for reduction sum).
TORCH_LOSSES: dict[type, Callable[[torch.nn.Module], LossConversion]] = {
    torch.nn.MSELoss: lambda m: LossConversion(
        "mse",
        "sum",
        (lambda s: 2.0 / _numel(s)) if m.reduction == "mean" else (lambda s: 2.0),
        _float_target,
    ),
    torch.nn.CrossEntropyLoss: lambda m: LossConversion(
        "cross_entropy", m.reduction, lambda s: 1.0, _class_target
    ),
    torch.nn.BCEWithLogitsLoss: lambda m: LossConversion(
        "bce",
        "sum",
        (lambda s: 1.0 / _numel(s)) if m.reduction == "mean" else (lambda s: 1.0),
        _float_target,
    ),
}

_UNSUPPORTED_SETTINGS = {
    "weight": None,
    "pos_weight": None,
    "label_smoothing": 0.0,
    "ignore_index": -100,
}


def _conversion(loss: object) -> LossConversion:
    if isinstance(loss, str):
        if loss not in LOSS_NAMES:
            raise InvalidArgument(choices_message("loss", loss, LOSS_NAMES, "or pass nn.MSELoss()"))
        return LossConversion(loss, "mean", lambda s: 1.0, _float_target)
    maker = TORCH_LOSSES.get(type(loss))
    if maker is None:
        names = sorted(t.__name__ for t in TORCH_LOSSES)
        raise InvalidArgument(
            f"loss={type(loss).__name__} is not supported; use one of {names} or a symcheck "
            f"loss name {list(LOSS_NAMES)}"
        )
    if loss.reduction not in ("mean", "sum"):  # type: ignore[attr-defined]
        raise InvalidArgument(
            f"loss reduction={loss.reduction!r} is not supported; use 'mean' or 'sum'"  # type: ignore[attr-defined]
        )
    for key, plain in _UNSUPPORTED_SETTINGS.items():
        value = getattr(loss, key, plain)
        if not (value is None and plain is None) and value != plain:
            raise InvalidArgument(
                f"{type(loss).__name__}({key}=...) is not supported; use the default {plain!r}"
            )
    return maker(loss)


class Gradients(dict[str, np.ndarray]):
    """Parameter name -> float64 gradient (a dict), with the ``loss`` value."""

    def __init__(self, grads: Mapping[str, np.ndarray], *, loss: float, loss_name: str) -> None:
        super().__init__(grads)
        self.loss = loss
        self.loss_name = loss_name

    def to_json(self) -> dict[str, object]:
        return {
            "loss": {"name": self.loss_name, "value": self.loss},
            "gradients": {name: grad.tolist() for name, grad in self.items()},
        }


def gradients(
    model: object, example_inputs: object, targets: object, loss: object = "mse"
) -> Gradients:
    """Float64 gradients of ``loss(model(example_inputs), targets)`` by parameter name.

    Computed by symcheck's graph engine on the translated graph (not by
    autograd). Parameters the output does not depend on get zero gradients.
    """
    conversion = _conversion(loss)
    translation = translate_module(model, example_inputs)
    graph = translation.with_loss(conversion.name, conversion.reduction)
    shape = graph.shape(graph.output)
    raw = to_numpy(targets) if isinstance(targets, torch.Tensor) else np.asarray(targets)
    target = conversion.target(raw, shape)
    value, grads = loss_and_gradients(graph, translation.values, translation.inputs, target)
    factor = conversion.factor(shape)
    result = {}
    for name, parameter in model.named_parameters():  # type: ignore[attr-defined]
        grad = grads.get(name)
        result[name] = factor * grad if grad is not None else np.zeros(tuple(parameter.shape))
    return Gradients(result, loss=factor * float(value), loss_name=conversion.name)


def prove(
    model: object,
    example_inputs: object,
    *,
    optimizer: str | None = None,
    loss: str = "mse",
) -> Proof:
    """The structural proof (T1, T2 in docs/theory.md) about the module's current ties.

    The module is captured and translated; its current parameters (and buffers
    and constants) are the init point, whose tie classes are found exactly and
    certified by permutations. The proof certifies every op equivariant under
    each unit space's permutations (exactly, on the SymPy backend) and so shows
    that tied units get identical gradients of the ``loss`` (a symcheck loss
    name) for every input and target; with ``optimizer`` (a rule of
    :data:`symcheck.model.optimizers.SYMBOLIC_OPTIMIZERS`), that one step keeps every
    tie, hence every step does. A module without ties is proved vacuously: the
    proof's statement names the spaces and classes it covers ("none").
    Anything that cannot be certified answers ``unknown``, never ``proved``.
    """
    from symcheck.graph.prove import prove_identical_updates, prove_preserved

    if loss not in LOSS_NAMES:
        raise InvalidArgument(choices_message("loss", loss, LOSS_NAMES))
    translation = translate_module(model, example_inputs)
    graph = translation.with_loss(loss)
    if optimizer is None:
        return prove_identical_updates(graph, init=translation.values, kind="structural")
    return prove_preserved(graph, init=translation.values, optimizer=optimizer, kind="structural")
