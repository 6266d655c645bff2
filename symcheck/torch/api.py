"""Public functions of the PyTorch front end (theory: docs/theory.md, "unit spaces").

* :func:`symmetries` — the inferred unit spaces of the module's graph,
  keyed by the module's parameter (and buffer) names;
* :func:`tie_classes` — the units of each space whose parameters are equal
  right now, each class certified by a permutation of the space that maps
  every parameter, buffer and constant exactly onto itself (the graph core's
  engine, :mod:`symcheck.graph.ties`, and its JSON);
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
from symcheck.graph.points import Point, given_point
from symcheck.graph.symmetry import Symmetries, infer_symmetries, unit_entries
from symcheck.graph.ties import TieCertificate, TieClasses, classes_at
from symcheck.prove.proof import Proof
from symcheck.torch.capture import capture, to_numpy
from symcheck.torch.labels import module_labels
from symcheck.torch.translate import Translation, translate

__all__ = [
    "LOSS_NAMES",
    "TORCH_LOSSES",
    "Gradients",
    "LossConversion",
    "ModuleTies",
    "TieClasses",
    "gradients",
    "module_ties",
    "prove",
    "symmetries",
    "tie_classes",
    "translate_module",
    "unit_entries",
]

LOSS_NAMES = ("mse", "cross_entropy", "bce")
#: The description of the point :func:`tie_classes` examines.
CURRENT = "the module's current parameters, buffers and constants (exact float64 values)"


def translate_module(model: object, example_inputs: object) -> Translation:
    """Capture and translate ``model`` (the common first step of every function here)."""
    return translate(capture(model, example_inputs))


def symmetries(model: object, example_inputs: object) -> Symmetries:
    """The unit spaces of ``model`` (``to_json()``: the graph core's ``spaces``/``parameters``)."""
    graph = translate_module(model, example_inputs).graph
    return infer_symmetries(graph, labels=module_labels(model))


# ---------------------------------------------------------------- tie classes


@dataclass(frozen=True)
class ModuleTies:
    """The certified ties of a module with what they were found on (for the torch tools)."""

    translation: Translation
    symmetries: Symmetries  # spaces named by the module's parameters (module labels)
    ties: TieClasses  # the graph core's result, with its documented ``to_json``

    @property
    def certificates(self) -> tuple[TieCertificate, ...]:
        """Every certified class of every movable space, in the order of ``ties.spaces``."""
        return tuple(c for s in self.ties.spaces for c in s.certificates)


def module_ties(model: object, example_inputs: object) -> ModuleTies:
    """Capture ``model`` and find its tie classes with the graph core's engine.

    The current parameters, buffers and folded constants (float64, exact)
    are the point; :func:`symcheck.graph.ties.classes_at` finds and
    certifies the classes (theory: docs/theory.md, T1).
    """
    translation = translate_module(model, example_inputs)
    found = infer_symmetries(translation.graph, labels=module_labels(model))
    given = given_point(translation.graph, translation.values)
    point = Point("current", CURRENT, given.values, given.codes)
    ties = classes_at(translation.graph, point, found, model=type(model).__name__)
    return ModuleTies(translation, found, ties)


def tie_classes(model: object, example_inputs: object) -> TieClasses:
    """The certified tie classes of the current parameters: the graph core's
    :class:`~symcheck.graph.ties.TieClasses` (``to_json`` as in docs/graph-proofs.md),
    its spaces and certificates named by the module's parameters."""
    return module_ties(model, example_inputs).ties


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
