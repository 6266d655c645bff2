"""Record one training step op by op: every aten call of the forward, backward and optimiser step.

:func:`record_step` runs ``zero_grad``, the forward pass and the loss, the
backward pass and ``optimizer.step()`` of a module exactly as a training loop
does (eager, the module's own kernels and dtype), under a
``TorchDispatchMode`` that sees every aten op below autograd, including the
ops autograd runs for the backward pass and the optimiser's in-place updates.
Each call is kept as an :class:`OpCall`: the op, the phase (``forward``,
``backward``, ``optimizer``), where it came from (the module path and type
from forward hooks; in the backward pass the module whose forward created the
autograd node, read from that node's metadata) and float64 copies of its
floating-point tensor inputs and outputs (after the call, so in-place updates
are seen; integer and boolean tensors such as indices and masks permute as
values, not as entries, and are kept as empty arrays).

The trace is bounded: more than :data:`MAX_ENTRIES` recorded entries stop the
step with :class:`TraceTooLarge` (checked before each copy).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["MAX_ENTRIES", "PHASES", "OpCall", "StepTrace", "TraceTooLarge", "record_step"]

PHASES = ("forward", "backward", "optimizer")
#: Largest number of tensor entries one trace copies (inputs and outputs of every op).
MAX_ENTRIES = 4_000_000
_METADATA_KEY = "symcheck_module"
_ACCUMULATE = "torch::autograd::AccumulateGrad"


class TraceTooLarge(Exception):
    """The step touches more than :data:`MAX_ENTRIES` tensor entries."""


@dataclass(frozen=True)
class OpCall:
    """One aten call of a recorded step."""

    index: int
    op: str  # e.g. "aten.mm.default"
    phase: str  # one of PHASES
    module: str  # e.g. "fc1 (Linear)", "loss (MSELoss)", "the optimiser (Adam)"
    autograd_node: str | None  # the backward node running it, e.g. "AddmmBackward0"
    inputs: tuple[np.ndarray, ...]  # float64 copies of the tensor arguments, in order
    outputs: tuple[np.ndarray, ...]  # float64 copies of the tensor results, in order


@dataclass(frozen=True)
class StepTrace:
    """Every op of one step, and the gradients autograd produced (by parameter name)."""

    calls: tuple[OpCall, ...]
    gradients: dict[str, np.ndarray]


def _tensors(value: Any) -> list[torch.Tensor]:
    """The tensors in an op's arguments or results (flattening lists and tuples)."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    return []


def _copy(tensor: torch.Tensor) -> np.ndarray:
    """A float64 copy; empty for tensors that are not real floating point (indices and masks
    permute as values, not as entries, so their entries are not compared)."""
    t = tensor.detach()
    if not t.is_floating_point() or t.is_quantized or t.is_sparse or t.device.type == "meta":
        return np.zeros(0)
    return t.to(torch.float64).cpu().numpy().copy()


def _label(path: str, module: torch.nn.Module) -> str:
    kind = type(module).__name__
    return f"{path} ({kind})" if path else f"the root module ({kind})"


class _Recorder(TorchDispatchMode):
    def __init__(self, names: dict[int, str]) -> None:
        super().__init__()
        self.names = names  # id(parameter) -> its name, for gradient accumulation
        self.phase = "forward"
        self.stack: list[str] = []
        self.outside = ""  # the label used when no module is running (loss, optimiser)
        self.calls: list[OpCall] = []
        self.entries = 0

    def _keep(self, tensors: Sequence[torch.Tensor]) -> tuple[np.ndarray, ...]:
        self.entries += sum(t.numel() for t in tensors)
        if self.entries > MAX_ENTRIES:
            raise TraceTooLarge(f"the step touches more than {MAX_ENTRIES} tensor entries")
        return tuple(_copy(t) for t in tensors)

    def _where(self) -> tuple[str, str | None]:
        if self.phase != "backward":
            return (self.stack[-1] if self.stack else self.outside), None
        node = torch._C._current_autograd_node()
        if node is None:
            return self.outside, None
        name = node.name()
        if name == _ACCUMULATE:
            variable = getattr(node, "variable", None)
            owner = self.names.get(id(variable), "a parameter")
            return f"gradient accumulation of {owner}", name
        return str(node.metadata.get(_METADATA_KEY, self.outside)), name

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        inputs = self._keep(_tensors(args) + _tensors(list(kwargs.values())))
        out = func(*args, **kwargs)
        module, node = self._where()
        outputs = self._keep(_tensors(out))
        call = OpCall(len(self.calls), str(func), self.phase, module, node, inputs, outputs)
        self.calls.append(call)
        return out


def _claim(outputs: Any, label: str) -> None:
    """Tag the autograd nodes created since the inner modules finished with ``label``."""
    pending = [t.grad_fn for t in _tensors(outputs) if t.grad_fn is not None]
    while pending:
        node = pending.pop()
        if node is None or node.name() == _ACCUMULATE or _METADATA_KEY in node.metadata:
            continue
        node.metadata[_METADATA_KEY] = label
        pending.extend(next_node for next_node, _ in node.next_functions)


def _hooks(model: torch.nn.Module, recorder: _Recorder) -> list[Any]:
    handles = []
    for path, module in model.named_modules():
        label = _label(path, module)

        def before(_m: Any, _a: Any, label: str = label) -> None:
            recorder.stack.append(label)

        def after(_m: Any, _a: Any, out: Any, label: str = label) -> None:
            recorder.stack.pop()
            _claim(out, label)

        handles.append(module.register_forward_pre_hook(before))
        handles.append(module.register_forward_hook(after))
    return handles


def record_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    args: Sequence[object],
    targets: torch.Tensor,
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> StepTrace:
    """One training step of ``model`` (modified in place), recorded op by op."""
    names = {id(p): n for n, p in model.named_parameters()}
    recorder = _Recorder(names)
    handles = _hooks(model, recorder)
    loss_label = f"loss ({type(criterion).__name__})"
    try:
        optimizer.zero_grad()
        with recorder:
            prediction = model(*args)
            recorder.outside = loss_label
            loss = criterion(prediction, targets)
            _claim(loss, loss_label)
            recorder.phase = "backward"
            loss.backward()
        gradients = {
            n: _copy(p.grad) if p.grad is not None else np.zeros(tuple(p.shape))
            for n, p in model.named_parameters()
        }
        recorder.phase = "optimizer"
        recorder.outside = f"the optimiser ({type(optimizer).__name__})"
        with recorder:
            optimizer.step()
    finally:
        for handle in handles:
            handle.remove()
    return StepTrace(tuple(recorder.calls), gradients)
