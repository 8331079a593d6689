"""Everything a request needs, loaded once in the lifespan and swapped atomically on reload."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from services.api.campaign_gate import open_campaign_parts
from services.api.reload_sync import ReloadSync
from services.api.settings import ApiSettings
from services.api.store_guard import StoreGuard
from shared.artifacts import ArtifactError
from shared.assignment_log import AssignmentLog, open_log
from shared.bandit import BanditStore, open_store, posterior
from shared.bandit.calibration import SegmentCalibration
from shared.bandit.contexts import context_key
from shared.bundle import ModelBundle
from shared.member_trees import PARITY_TOL as MEMBER_PARITY_TOL
from shared.member_trees import MemberTrees
from shared.parity import probe_matrix
from shared.segments import SEGMENTS

log = logging.getLogger("uplift.api")


@dataclass(frozen=True)
class LoadedModel:
    bundle: ModelBundle
    # (segment, arm) → (alpha, beta): the model's own belief, worth ``prior_strength`` observations.
    priors: dict[tuple[str, str], tuple[float, float]]
    # /optimize's calibration per (space, segment, that segment's feedback): see
    # services.api.deciding.calibration_of. Keyed by the feedback itself, so a reward makes a new entry.
    calibration_cache: dict[tuple[Any, ...], SegmentCalibration] = field(
        default_factory=dict, compare=False, repr=False
    )
    # The effect-sample members as one numpy forest (shared.member_trees), once built and checked
    # against XGBoost by ``prepare_members``; until then (or if it cannot be) XGBoost scores them.
    runtime: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # Segment → the bandit store's context for this version (shared.bandit.contexts), built once.
    contexts: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Frozen: fill the dict the field made rather than replacing it.
        self.contexts.update({seg: context_key(seg, self.bundle.version) for seg in SEGMENTS})


def prepare_members(model: LoadedModel) -> None:
    """Build the members' numpy forest for /predict's intervals and check it against the boosters on probe rows."""
    bundle = model.bundle
    if not bundle.has_effect_samples or "members" in model.runtime:
        return
    members = bundle.members
    trees = MemberTrees.from_boosters(members)
    if trees is None:
        log.info(
            "effect-sample members of %s are scored by XGBoost (a form the numpy forest lacks)",
            bundle.version,
        )
        return
    error = trees.check(members, probe_matrix(bundle.schema))
    if error > MEMBER_PARITY_TOL:
        log.warning(
            "effect-sample members: numpy forest off by %.3g from XGBoost; XGBoost scores them", error
        )
        return
    model.runtime["members"] = trees


@dataclass
class AppState:
    settings: ApiSettings
    store: BanditStore
    guard: StoreGuard  # every store call goes through it (off the loop, bounded in time)
    # Every production assignment and its reward, durable (SQLite or PostgreSQL); through the guard too.
    assignment_log: AssignmentLog
    model: LoadedModel | None = None
    load_error: str | None = None
    # The batchers of /predict and /optimize (services.api.batching), made on first use.
    predict_batches: Any = None
    optimize_batches: Any = None
    reload_lock: threading.Lock = field(default_factory=threading.Lock)
    # The other workers' reloads reach this one through it (services.api.reload_sync).
    sync: ReloadSync | None = None
    # Campaigns: the ledger (shared.campaigns.CampaignLedger); opened in the lifespan.
    campaigns: Any = None


def model_priors(bundle: ModelBundle, strength: float) -> dict[tuple[str, str], tuple[float, float]]:
    """Seed each segment × arm posterior with the model's mean predicted conversion there.

    The trainer measured those means on held-out users; where it did not (a continuous outcome,
    a segment too small) the prior is the uninformative Beta(1, 1).
    """
    out = {(s, a): (1.0, 1.0) for s in SEGMENTS for a in bundle.arms}
    for seg, arms in bundle.manifest.bandit_priors.items():
        for arm, mean in arms.items():
            m = min(max(mean, 1e-4), 1 - 1e-4)
            out[(seg, arm)] = (1.0 + m * strength, 1.0 + (1.0 - m) * strength)
    return out


def _warm_up(state: AppState) -> None:
    posterior.warm_up()
    model = state.model
    if model is not None:
        try:
            model.bundle.load_boosters()
            prepare_members(model)  # /predict's intervals read the members: ready before the first request
        except ArtifactError as exc:
            # ONNX passed its check at load and keeps serving; only large batches would fail.
            log.error("XGBoost boosters of %s could not be loaded: %s", model.bundle.version, exc)
    gc.freeze()  # what the warm-up imported lives as long as the process too (see the lifespan)


def load_model(settings: ApiSettings, boosters: bool = False) -> LoadedModel:
    """The current version, checked; ``boosters`` loads the XGBoost ones now too (a reload reads all).

    Any failure is an ``ArtifactError``: a file of the wrong type under a valid checksum makes its
    reader (ONNX Runtime, XGBoost, pyarrow) raise its own exception types, which are the artifact's
    fault as much as a checksum mismatch is.
    """
    try:
        bundle = ModelBundle.load_current(settings.models_dir, use_onnx=settings.use_onnx)
        loaded = LoadedModel(bundle=bundle, priors=model_priors(bundle, settings.prior_strength))
        if boosters:
            bundle.load_boosters()
            prepare_members(loaded)
        return loaded
    except ArtifactError:
        raise
    except Exception as exc:
        raise ArtifactError(
            f"a file of the current version could not be read ({type(exc).__name__}: {exc}); retrain it"
        ) from exc


def public_reason(message: str, settings: ApiSettings) -> str:
    """An artifact error as clients may see it: paths relative to the models folder, none of the server's.

    The full message stays in the server's log.
    """
    for root in sorted({str(settings.models_dir.resolve()), str(settings.models_dir)}, key=len, reverse=True):
        message = message.replace(root.rstrip("/") + "/", "").replace(root, "models_dir")
    return _ABSOLUTE_PATH.sub(lambda m: Path(m.group(0)).name or "/", message)


# An absolute path left in a message (a temp file, a library's install folder): only its last part is shown.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~-])/[^\s'\",;:()\[\]]+")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: ApiSettings = app.state.settings
    # A blocked store call gives up a little after the guard stopped waiting for it, so the
    # guard's threads come back from a stopped store instead of piling up on it.
    store = open_store(
        settings.resolved_bandit_url(),
        namespace=settings.bandit_namespace,
        timeout_s=2 * settings.store_timeout_s,
        assignment_retention_days=settings.assignment_retention_days,
        sandbox_retention_s=settings.sandbox_retention_hours * 3600.0,
    )
    guard = StoreGuard(settings.store_timeout_s, settings.store_retry_after_s)
    try:
        assignment_log = await asyncio.to_thread(open_log, settings.resolved_log_url(), "NORMAL", 1.0)
    except BaseException:
        store.close()
        raise
    state = AppState(settings=settings, store=store, guard=guard, assignment_log=assignment_log)
    # --- campaigns (services.api.campaign_gate) ---
    # The ledger; the log it opens beside it is the one just opened (same URL), so that copy goes.
    state.campaigns, campaigns_log = open_campaign_parts(settings, 2 * settings.store_timeout_s)
    campaigns_log.close()
    # --- end campaigns ---
    try:
        state.model = load_model(settings)
        log.info("serving model %s (%s)", state.model.bundle.version, state.model.bundle.serving_format)
    except ArtifactError as exc:
        # Stay up so /health answers and /ready explains; a reload can bring the model in later.
        state.load_error = public_reason(str(exc), settings)
        log.error("no model loaded: %s", exc)
    app.state.uplift = state
    follower = None
    if settings.reload_sync_dir is not None:  # several workers: a reload must reach them all
        state.sync = ReloadSync(settings.reload_sync_dir)
        state.sync.report(state.model.bundle.version if state.model else None, state.load_error)
        follower = asyncio.create_task(_follow_reloads(state, state.sync), name="follow-reloads")
    # XGBoost (large batches only) and scipy.special (the bandit's posteriors) load after start-up:
    # together ~0.6 s that /ready need not wait for. A request that needs them sooner waits for
    # the import lock or the booster lock, and nothing is served unchecked (see shared.bundle).
    threading.Thread(target=_warm_up, args=(state,), name="warm-up", daemon=True).start()
    purger = asyncio.create_task(_purge_forever(state), name="retention")
    # Everything loaded so far (modules, model, catalog) lives as long as the process. Freezing it
    # keeps the cyclic GC from rescanning those objects in every full collection that a large
    # batch's allocations trigger: such a pass took tens of ms, the p95/p99 tail of /predict.
    gc.freeze()
    try:
        yield
    finally:
        purger.cancel()
        if follower is not None and state.sync is not None:
            follower.cancel()
            state.sync.leave()
        guard.close()
        store.close()
        state.campaigns.close()  # campaigns
        assignment_log.close()


def purge_expired(state: AppState) -> tuple[int, int]:
    """Retention, once: (assignments deleted from the bandit store, rows deleted from the log)."""
    days = state.settings.assignment_retention_days
    return state.store.purge_expired(time.time()), state.assignment_log.purge(days)


async def _purge_forever(state: AppState) -> None:
    """Every ``purge_interval_s``: retention of the store and the log, off the loop."""
    while True:
        await asyncio.sleep(state.settings.purge_interval_s)
        try:
            store_rows, log_rows = await asyncio.to_thread(purge_expired, state)
            if store_rows or log_rows:
                log.info("retention: %d assignments and %d log rows deleted", store_rows, log_rows)
        except Exception:  # the store or log is out now: the next round tries again
            log.warning("retention could not run this round", exc_info=True)


def reload_now(state: AppState) -> LoadedModel:
    """Load and check all of the current version, then serve it (under the reload lock)."""
    with state.reload_lock:
        fresh = load_model(state.settings, boosters=True)
        state.model = fresh
        state.load_error = None
    return fresh


async def _follow_reloads(state: AppState, sync: ReloadSync) -> None:
    """Reload when another worker published a new generation; report what this worker serves then."""
    while True:
        await asyncio.sleep(sync.poll_s)
        try:
            if not sync.changed():
                continue
            generation = sync.read_generation()
            try:
                fresh = await asyncio.to_thread(reload_now, state)
            except ArtifactError as exc:
                log.error("reload of generation %d refused, serving what it served: %s", generation, exc)
                current = state.model.bundle.version if state.model else None
                sync.report(current, public_reason(str(exc), state.settings), generation)
                continue
            log.info("generation %d: serving %s", generation, fresh.bundle.version)
            sync.report(fresh.bundle.version, None, generation)
        except Exception:  # the follower must outlive any one bad look at the files
            log.exception("following reloads failed; trying again")
