"""Qini and uplift-by-decile figures written beside the model (PNG, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def qini_plot(arms: dict[str, dict[str, Any]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 5), dpi=110)
    for name, res in arms.items():
        model = res["curves"]["model"]
        ax.plot(model["x"], model["y"], label=f"model ({name}), Qini={res['qini']:.4f}")
        if "oracle" in res["curves"]:
            oracle = res["curves"]["oracle"]
            ax.plot(oracle["x"], oracle["y"], "--", label=f"oracle ({name}), Qini={res['qini_oracle']:.4f}")
        ax.plot([0, 1], [0, model["y"][-1]], ":", color="grey", label=f"random ({name})")
    ax.set_xlabel("share of users targeted (by predicted uplift)")
    ax.set_ylabel("incremental outcomes (Qini)")
    ax.set_title("Qini curve on the held-out split")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def uplift_plot(arms: dict[str, dict[str, Any]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    width = 0.8 / max(1, len(arms))
    for k, (name, res) in enumerate(arms.items()):
        rows = res["deciles"]
        xs = [r["bin"] + k * width for r in rows]
        ax.bar(xs, [r["uplift"] for r in rows], width=width, label=name)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlabel("decile of predicted uplift (0 = highest)")
    ax.set_ylabel("observed uplift (treated − control)")
    ax.set_title("Observed uplift by predicted-uplift decile (held-out)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
