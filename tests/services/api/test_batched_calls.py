"""Concurrent /predict and /optimize calls are answered in batches; each gets what it would alone."""

import asyncio
import json

import httpx

from services.api.main import create_app
from shared.assignment_log import open_log


def _policy(seed, **kw):
    return {"budget": 1000.0, "cost_per_treatment": 0.5, "value_per_conversion": 20.0, "seed": seed, **kw}


def _comparable(res):
    body = res.json()
    # Assignment ids are fresh per call; everything else must match exactly.
    decisions = [{k: v for k, v in d.items() if k != "assignment_id"} for d in body["decisions"]]
    return {**body, "decisions": decisions}


async def _serve(settings, requests, together, data_dir, path="/optimize"):
    # A bandit store of its own per run: same starting posteriors for both ways of calling.
    app = create_app(settings.model_copy(update={"data_dir": data_dir}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            if together:
                out = await asyncio.gather(*(client.post(path, json=r) for r in requests))
            else:
                out = [await client.post(path, json=r) for r in requests]
            state = app.state.uplift
            batcher = state.optimize_batches if path == "/optimize" else state.predict_batches
            stored = app.state.uplift.store
            for res in out:
                for d in res.json().get("decisions", []):
                    # Every returned id was committed before its answer was sent.
                    assert stored.record_reward(d["assignment_id"], 1).status == "applied"
            metrics = (await client.get("/metrics")).text
            assert path != "/optimize" or "uplift_optimize_batch_requests_bucket" in metrics
            return out, (batcher.batches, batcher.jobs)


def test_concurrent_calls_share_a_batch_and_get_their_own_answers(settings, users, tmp_path):
    requests = [
        {"users": users[i : i + (1 if i % 3 else 3)], "policy": _policy(i, top_k=3 + i % 4)}
        for i in range(12)
    ]
    requests[5]["policy"]["budget"] = 0.0  # a different policy inside the same batch
    alone, (alone_batches, _) = asyncio.run(_serve(settings, requests, False, tmp_path / "alone"))
    together, (batches, jobs) = asyncio.run(_serve(settings, requests, True, tmp_path / "together"))
    assert alone_batches == 12
    assert jobs == 12 and batches < 12
    assert [r.status_code for r in together] == [200] * 12
    assert [_comparable(r) for r in together] == [_comparable(r) for r in alone]
    assert all(d["arm"] == "0" for d in together[5].json()["decisions"])


def test_bad_input_fails_its_own_call_not_the_batch(settings, users, tmp_path):
    broken = {**users[1], "features": {**users[1]["features"], "age": "old"}}
    requests = [
        {"users": users[:1], "policy": _policy(1)},
        {"users": [broken], "policy": _policy(2)},
        {"users": users[2:3], "policy": _policy(3)},
    ]
    out, (batches, _) = asyncio.run(_serve(settings, requests, True, tmp_path / "var"))
    assert batches == 1
    assert [r.status_code for r in out] == [200, 422, 200]
    assert out[1].json()["detail"][0]["field"] == "users[0].features.age"


def test_concurrent_predictions_share_a_batch_and_match_one_by_one(settings, users, tmp_path):
    requests = [{"users": users[i : i + 1 + i % 4]} for i in range(10)]
    alone, _ = asyncio.run(_serve(settings, requests, False, tmp_path / "alone", "/predict"))
    together, (batches, jobs) = asyncio.run(
        _serve(settings, requests, True, tmp_path / "together", "/predict")
    )
    assert jobs == 10 and batches < 10
    assert [r.json() for r in together] == [r.json() for r in alone]
    assert [len(r.json()["predictions"]) for r in together] == [1 + i % 4 for i in range(10)]


def test_a_batch_spanning_a_reload_scores_each_job_with_its_own_model(settings, users, tmp_path):
    from services.api.optimizer import OptimizeJob, answer
    from services.api.schemas import OptimizeRequest
    from services.api.state import AppState, load_model
    from services.api.store_guard import StoreGuard
    from shared.bandit import open_store

    def job(model, i):
        body = OptimizeRequest.model_validate({"users": users[i : i + 2], "policy": _policy(i)})
        return OptimizeJob(body, model, model.bundle.schema.encode_records([u.features for u in body.users]))

    def fresh_state(name):
        s = settings.model_copy(update={"data_dir": tmp_path / name})
        store = open_store(s.resolved_bandit_url())
        log = open_log(s.resolved_log_url())
        return AppState(
            settings=s, store=store, guard=StoreGuard(5.0, 1), assignment_log=log, model=load_model(s)
        )

    together, alone = fresh_state("together"), fresh_state("alone")
    old, new = together.model, load_model(settings)  # two loads: what a reload between submissions gives
    jobs = [job(old, 0), job(new, 2), job(old, 4)]
    batched = asyncio.run(answer(together, jobs))
    one_by_one = [asyncio.run(answer(alone, [job(alone.model, i)]))[0] for i in (0, 2, 4)]
    as_json = [
        [{k: v for k, v in d.items() if k != "assignment_id"} for d in json.loads(r.body)["decisions"]]
        for r in (*batched, *one_by_one)
    ]
    assert as_json[:3] == as_json[3:]
    for state in (together, alone):
        assert state.assignment_log.count() == 6  # every answered assignment is logged
        state.guard.close()
        state.store.close()
        state.assignment_log.close()


def test_a_job_failing_inside_a_batch_fails_alone(settings, users, tmp_path, monkeypatch):
    from services.api import optimizer
    from services.api.optimizer import OptimizeJob, answer
    from services.api.schemas import OptimizeRequest
    from services.api.state import AppState, load_model
    from services.api.store_guard import StoreGuard
    from shared.bandit import open_store

    real = optimizer.decide_request

    def decide(model, users_in, s, feedback, terms, prior_sd):
        if users_in[0].user_id == users[1]["user_id"]:
            raise ArithmeticError("this request's own numbers overflowed")
        return real(model, users_in, s, feedback, terms, prior_sd)

    monkeypatch.setattr(optimizer, "decide_request", decide)
    s = settings.model_copy(update={"data_dir": tmp_path / "isolated"})
    store = open_store(s.resolved_bandit_url())
    log = open_log(s.resolved_log_url())
    state = AppState(
        settings=s, store=store, guard=StoreGuard(5.0, 1), assignment_log=log, model=load_model(s)
    )
    model = state.model
    jobs = [
        OptimizeJob(
            body := OptimizeRequest.model_validate({"users": users[i : i + 1], "policy": _policy(i)}),
            model,
            model.bundle.schema.encode_records([u.features for u in body.users]),
        )
        for i in range(3)
    ]
    first, second, third = asyncio.run(answer(state, jobs))
    assert isinstance(second, ArithmeticError)
    ids = [json.loads(r.body)["decisions"][0]["assignment_id"] for r in (first, third)]
    # The good requests' assignments were committed; nothing of the failed one was.
    assert [store.record_reward(i, 1).status for i in ids] == ["applied", "applied"]
    assert sum(store.counts().get(k, (0, 0))[0] for k in store.counts()) == 2
    assert sorted(e.row.assignment_id for e in log.iter_rows()) == sorted(ids)
    state.guard.close()
    store.close()
    log.close()
