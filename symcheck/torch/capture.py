"""Capture a user's ``nn.Module`` with ``torch.export`` (aten-level graph, state lifted).

:func:`capture` exports a float64 copy of the module in eval mode (so
BatchNorm uses its running statistics and dropout is off) and returns a
:class:`Captured`: the exported program, the float64 values of every lifted
parameter, buffer and tensor constant (by their state-dict names), which of
them are trainable parameters, and the example inputs as NumPy arrays. The
user's module is never modified. Parameters with ``requires_grad=True``
are fine: values are read with ``detach()``.

Every failure is one :class:`~symcheck.errors.InvalidArgument` line naming
the module and the reason.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.export import ExportedProgram
from torch.export.graph_signature import InputKind

from symcheck.errors import InvalidArgument

__all__ = ["Captured", "capture", "to_numpy"]


@dataclass(frozen=True)
class Captured:
    """A module captured by :func:`capture`."""

    module_name: str
    program: ExportedProgram
    state: dict[str, np.ndarray]  # every lifted parameter, buffer and constant (float64)
    trainable: tuple[str, ...]  # the names of ``module.named_parameters()``, in order
    placeholders: dict[str, str]  # exported placeholder name -> state name
    inputs: dict[str, np.ndarray]  # user-input placeholder name -> example value
    dtype: torch.dtype  # the module's own floating dtype (for eps=None conventions)


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A detached CPU copy: float64 for floating tensors, int64 for integer ones."""
    t = tensor.detach().cpu()
    return t.double().numpy().copy() if t.is_floating_point() else t.long().numpy().copy()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()


def _example_tuple(module_name: str, example_inputs: object) -> tuple[torch.Tensor, ...]:
    given = example_inputs if isinstance(example_inputs, (tuple, list)) else (example_inputs,)
    if not given or not all(isinstance(t, torch.Tensor) for t in given):
        raise InvalidArgument(
            f"example_inputs for {module_name} must be a tensor or a tuple of tensors, got "
            f"{type(example_inputs).__name__}; pass e.g. (torch.randn(2, 3),)"
        )
    for t in given:
        if t.dim() < 1:
            raise InvalidArgument(
                f"example input of shape {tuple(t.shape)} for {module_name} has no batch "
                "axis; give batch-first tensors"
            )
    return tuple(t.detach().double() if t.is_floating_point() else t.detach() for t in given)


def _floating_dtype(model: torch.nn.Module) -> torch.dtype:
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


def capture(model: object, example_inputs: object | Sequence[torch.Tensor]) -> Captured:
    """Export a float64 eval-mode copy of ``model`` on ``example_inputs``."""
    if not isinstance(model, torch.nn.Module):
        raise InvalidArgument(
            f"model must be a torch.nn.Module, got {type(model).__name__}; pass the module itself"
        )
    name = type(model).__name__
    dtype = _floating_dtype(model)
    try:
        copied = copy.deepcopy(model)
    except Exception as exc:  # deepcopy runs arbitrary user code
        raise InvalidArgument(f"cannot copy module {name}: {_one_line(exc)}") from None
    copied = copied.double().eval()
    args = _example_tuple(name, example_inputs)
    try:
        program = torch.export.export(copied, args)
    except Exception as exc:  # torch raises many kinds; one line says which and why
        raise InvalidArgument(
            f"torch.export could not capture module {name}: {_one_line(exc)}; make forward() "
            "traceable (no data-dependent Python control flow) or simplify it"
        ) from None
    state: dict[str, np.ndarray] = {}
    placeholders: dict[str, str] = {}
    inputs: dict[str, np.ndarray] = {}
    user_args = iter(args)
    for spec in program.graph_signature.input_specs:
        placeholder = spec.arg.name
        if spec.kind == InputKind.USER_INPUT:
            inputs[placeholder] = to_numpy(next(user_args))
            continue
        target = str(spec.target)
        if spec.kind == InputKind.PARAMETER:
            value = program.state_dict[target]
        elif spec.kind == InputKind.BUFFER:
            value = program.state_dict[target] if spec.persistent else program.constants[target]
        elif spec.kind == InputKind.CONSTANT_TENSOR:
            value = program.constants[target]
        else:
            raise InvalidArgument(
                f"module {name}: exported input {placeholder!r} of kind {spec.kind.name} is "
                "not supported; symcheck takes parameters, buffers, constants and tensors"
            )
        state[target] = to_numpy(value)
        placeholders[placeholder] = target
    trainable = tuple(n for n, _ in model.named_parameters())
    return Captured(name, program, state, trainable, placeholders, inputs, dtype)
