"""Hillstrom models trained once per session with few trees (the figures in the README use the defaults)."""

from pathlib import Path

import pytest

from services.trainer.data import FileSpec, from_file
from services.trainer.pipeline import train
from services.trainer.settings import TrainerSettings
from shared.datasets import HILLSTROM_CONTROL, HILLSTROM_OUTCOMES, HILLSTROM_PATH, HILLSTROM_TREATMENT


def train_hillstrom(out: Path, outcome: str, learner: str) -> Path:
    spec = FileSpec(
        path=HILLSTROM_PATH,
        treatment=HILLSTROM_TREATMENT,
        outcome=outcome,
        control=HILLSTROM_CONTROL,
        exclude=[c for c in HILLSTROM_OUTCOMES if c != outcome],
        seed=7,
    )
    data = from_file(spec)
    settings = TrainerSettings(n_jobs=2, max_trees=80, holdout_sample_rows=500, learner=learner)
    data.validate(limits=settings.limits())
    train(data, out, settings)
    return out


@pytest.fixture(scope="session")
def hillstrom_visit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_hillstrom(tmp_path_factory.mktemp("hillstrom_visit"), "visit", "auto")


@pytest.fixture(scope="session")
def hillstrom_spend(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_hillstrom(tmp_path_factory.mktemp("hillstrom_spend"), "spend", "dr")


@pytest.fixture()
def fast_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fewer trees for `uplift train` runs whose figures do not depend on them (the ranker, 120 uplift
    trees), a small held-out sample file and two threads."""
    monkeypatch.setenv("UPLIFT_RANKER_TREES", "5")
    monkeypatch.setenv("UPLIFT_MAX_TREES", "120")
    monkeypatch.setenv("UPLIFT_HOLDOUT_SAMPLE_ROWS", "500")
    monkeypatch.setenv("UPLIFT_N_JOBS", "2")
