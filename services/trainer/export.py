"""Writing the served uplift model: outcome and effect boosters (native and ONNX) and the effect samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shared.artifacts import UpliftModelSpec
from shared.estimators.served import ServedModel
from shared.estimators.uncertainty import SCALE
from shared.onnx_runtime import export_booster


def write_uplift(
    stage: Path, served: ServedModel, members: list[list[Any]], n_features: int, params: dict[str, Any]
) -> UpliftModelSpec:
    """Every served booster in one ordered list (outcome models per arm, then effect boosters).

    One list means one ONNX export, one parity check and one loader for both kinds; the effect form
    says how its columns combine (shared.estimators.served.combine).
    """
    boosters = [*served.baseline.boosters_, *served.effect_boosters]
    n_arms = len(served.baseline.boosters_)
    names = [f"outcome_arm{i}" for i in range(n_arms)] + [
        f"effect_{j}" for j in range(len(served.effect_boosters))
    ]
    exported = []
    for booster, name in zip(boosters, names, strict=True):
        booster.save_model(stage / f"{name}.ubj")
        exported.append(export_booster(booster, n_features, stage / f"{name}.onnx"))
    onnx_files = [f"{name}.onnx" for name in names]
    # ONNX serves every booster or none: a partial list would pair columns with the wrong models.
    if not all(exported):
        for onx in onnx_files:
            (stage / onx).unlink(missing_ok=True)
        onnx_files = []
    member_files = []
    for k, arm_members in enumerate(members):
        files = [f"member_arm{k + 1}_{j}.ubj" for j in range(len(arm_members))]
        for booster, f in zip(arm_members, files, strict=True):
            booster.save_model(stage / f)
        member_files.append(files)
    return UpliftModelSpec(
        kind="t-learner" if served.form.is_t_learner else "effect",
        learner=served.name,
        booster_files=[f"{name}.ubj" for name in names],
        onnx_files=onnx_files or None,
        best_iterations=[b.num_boosted_rounds() for b in boosters],
        params=params,
        n_outcome_boosters=n_arms,
        effect_form=None if served.form.is_t_learner else served.form.to_dict(),
        member_files=member_files or None,
        member_scale=SCALE,
    )
