"""Imports a benchmark script from loadtests/ (they are scripts beside each other, not a package)."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType


def import_script(name: str) -> ModuleType:
    """``loadtests/<name>.py`` as a module; its own imports of sibling scripts resolve while it loads."""
    sys.path.insert(0, "loadtests")
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove("loadtests")
