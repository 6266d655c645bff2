"""Layer labels for space names: a module's type where its path alone says little.

Unit spaces are named after the layer that creates them (the graph core takes
the parameter's stem: ``"fc1.weight"`` -> ``"fc1"``). Children of an
``nn.Sequential`` or ``nn.ModuleList`` are called ``"0"``, ``"2"``, ...; for
them :func:`module_labels` adds the module type, ``"0.weight"`` -> ``"0:Linear"``,
``"blocks.1.weight"`` -> ``"blocks.1:LayerNorm"``. Named children keep their
name, which the author chose.
"""

from __future__ import annotations

from torch import nn

__all__ = ["module_labels"]


def module_labels(model: object) -> dict[str, str]:
    """Parameter or buffer name -> ``"<path>:<ModuleType>"`` when the path ends in an index
    (empty for anything that is not an ``nn.Module``)."""
    labels: dict[str, str] = {}
    if not isinstance(model, nn.Module):
        return labels
    named = (*model.named_parameters(), *model.named_buffers())
    for name, _ in named:
        path, _, _ = name.rpartition(".")
        if path and path.rpartition(".")[2].isdigit():
            labels[name] = f"{path}:{type(model.get_submodule(path)).__name__}"
    return labels
