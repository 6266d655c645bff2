"""Old import paths of modules that moved into the pillar subpackages.

The package is organised by pillar (README, "Layout"): ``model``,
``prove``, ``confirm``, ``measure``, ``audit``, ``cli`` beside ``graph``,
``torch`` and ``checkpoint``. :data:`MOVED` maps every module's old dotted
name to its new one and is the one place to extend when a module moves.

:func:`install` (called by ``symcheck/__init__.py``) puts a finder on
:data:`sys.meta_path` that answers an old name with the *same module object*
as the new name, so ``import symcheck.numeric``, ``from symcheck import
numeric`` and ``monkeypatch.setattr("symcheck.numeric.NAME", ...)`` act on
``symcheck.measure.numeric`` itself, never on a second copy. ``python -m``
with an old name runs the new module.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Mapping, Sequence
from types import CodeType, MappingProxyType, ModuleType

__all__ = ["MOVED", "install"]


def _pillar(package: str, names: Sequence[str], old: str = "{}") -> dict[str, str]:
    """``symcheck.<old-formatted name>`` -> ``symcheck.<package>.<name>`` for each name."""
    return {f"symcheck.{old.format(n)}": f"symcheck.{package}.{n}" for n in names}


#: Old dotted name -> new dotted name, for every module that moved.
MOVED: Mapping[str, str] = MappingProxyType(
    {
        **_pillar(
            "model",
            [
                "activations",
                "example",
                "init",
                "inittable",
                "losses",
                "network",
                "neurons",
                "optimizers",
                "tree",
            ],
        ),
        **_pillar(
            "prove",
            [
                "certificate",
                "derive",
                "lumping",
                "oracle",
                "partition",
                "piecewise",
                "proof",
                "render",
                "scale_derive",
                "symbolic",
                "theorems",
                "tie_certificate",
                "ties",
                "witness",
                "zerotest",
            ],
        ),
        **_pillar(
            "confirm",
            ["gradcheck", "partition_strategies", "pytest_plugin", "strategies", "testing"],
        ),
        **_pillar(
            "measure",
            ["diagnose", "gaussian", "numeric", "optim", "plot", "scale", "scale_plot", "train"],
        ),
        **_pillar("audit", ["weights"]),
        **_pillar(
            "cli",
            [
                "args",
                "audit",
                "contract",
                "graph",
                "graph_proofs",
                "lumping",
                "numeric",
                "proofs",
                "scale",
                "torch",
            ],
            old="cli_{}",
        ),
    }
)


class _AliasLoader(importlib.abc.Loader):
    """Loads an old name as the already imported (or now imported) new module."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.target)
        self._spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The import system set ``__spec__`` to the old name's spec; the module keeps its own.
        module.__spec__ = self._spec

    def get_code(self, fullname: str) -> CodeType | None:
        """The new module's code, for ``python -m OLD.NAME``."""
        spec = importlib.util.find_spec(self.target)
        loader = spec.loader if spec is not None else None
        return loader.get_code(self.target) if hasattr(loader, "get_code") else None  # type: ignore[union-attr]


class _MovedFinder(importlib.abc.MetaPathFinder):
    """Finds the old names of :data:`MOVED` (and nothing else)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        new = MOVED.get(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(new))


def install() -> None:
    """Put the finder first on :data:`sys.meta_path` (once), and alias loaded modules.

    A moved module that is already imported is entered under its old name at
    once, and as an attribute of the parent package unless the package already
    has one of that name: ``symcheck.train`` and ``symcheck.derive`` stay the
    functions that ``symcheck/__init__.py`` exports, as before the move.
    """
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _MovedFinder())
    for old, new in MOVED.items():
        module = sys.modules.get(new)
        if module is not None and sys.modules.setdefault(old, module) is module:
            parent, _, name = old.rpartition(".")
            if not hasattr(sys.modules[parent], name):
                setattr(sys.modules[parent], name, module)
