"""Imports the policy benchmark's helpers (they live beside the scripts in loadtests/, not in a package)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "loadtests"))
from policy_figures import (
    POLICIES,
    by_fifths,
    choose_settings,
    compare,
    logged_truth,
    random_value,
    value_of,
)

__all__ = ["POLICIES", "by_fifths", "choose_settings", "compare", "logged_truth", "random_value", "value_of"]
