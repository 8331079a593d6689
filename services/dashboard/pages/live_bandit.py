"""Live bandit: the API's posteriors per segment × arm, and simulated users that make them learn."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from services.api.model_schemas import ModelInfo
from services.dashboard import charts, client, simulate

DEFAULT_SEED = 7


def _posterior_table(arms: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(arms)
    frame["95% interval"] = [
        f"{lo:.3f} – {hi:.3f}" for lo, hi in zip(frame.ci_low, frame.ci_high, strict=True)
    ]
    cols = ["segment", "arm", "successes", "failures", "mean", "95% interval", "prob_best", "expected_loss"]
    return frame[cols].rename(columns={"prob_best": "P(best)", "expected_loss": "expected loss"}).round(4)


def _state(seed: int) -> dict[str, Any]:
    """This visitor's simulation: one Generator per seed, and the regret history it produced."""
    sim = st.session_state.get("bandit_sim")
    if sim is None or sim["seed"] != seed:
        sim = {"seed": seed, "rng": np.random.default_rng(seed), "history": [], "rounds": 0}
        st.session_state["bandit_sim"] = sim
    return sim


def _record(sim: dict[str, Any], result: simulate.RoundResult) -> None:
    last = sim["history"][-1] if sim["history"] else {"users": 0, "bandit": 0.0, "random arm": 0.0}
    sim["rounds"] += 1
    sim["history"].append(
        {
            "users": last["users"] + result.users,
            "bandit": last["bandit"] + result.regret,
            "random arm": last["random arm"] + result.random_regret,
            "round": sim["rounds"],
            "conversions": result.rewards,
            "treated": result.treated,
            "Thompson seed": result.thompson_seed,
        }
    )


def _simulation(info: ModelInfo) -> None:
    st.subheader("Send simulated users")
    frame = client.sample_frame()
    data = info.data
    if not simulate.has_truth(frame, data.arms, data.control):
        st.info(
            "Simulated rewards need each user's true conversion probabilities, which only the synthetic "
            "market has. This model was trained on real data, so this control is unavailable."
        )
        return
    c1, c2 = st.columns(2)
    n = int(c1.number_input("Users per round", min_value=1, max_value=2000, value=200, step=50, key="sim_n"))
    seed = int(c2.number_input("Seed", min_value=0, max_value=2**31 - 1, value=DEFAULT_SEED, key="sim_seed"))
    sim = _state(seed)
    clicked = st.button(f"Send {n} simulated users", key="sim_send", type="primary")
    if clicked:
        offset = sim["history"][-1]["users"] if sim["history"] else 0
        features = info.features.names
        result = simulate.run_round(
            frame, features, data.arms, data.control, n, sim["rng"], client.post, offset
        )
        _record(sim, result)
        st.success(
            f"Round {sim['rounds']}: {result.users} users, {result.treated} treated, "
            f"{result.rewards} conversions, regret {result.regret:.2f} (random arm {result.random_regret:.2f})."
        )
    st.caption(
        f"Seed {seed}, round {sim['rounds']}. Each round draws {n} held-out users, sends them through "
        "`/optimize`, and rewards the chosen arm with Bernoulli(true conversion probability) via `/feedback`."
    )
    if sim["history"]:
        charts.show(charts.regret_chart(sim["history"]))
        st.dataframe(pd.DataFrame(sim["history"]).round(3), hide_index=True, width="stretch")


def render() -> None:
    st.title("Live bandit")
    st.caption(
        "Thompson sampling per segment: each arm's Beta posterior starts from the model's prediction and "
        "learns from `/feedback`. P(best) and expected loss are the API's."
    )
    with client.shown_errors():
        info = client.model_info()
        _simulation(info)
        bandit = client.request("GET", "/bandit")
    st.subheader("Posteriors")
    st.caption(f"Store: {bandit['backend']}; prior worth {bandit['prior_strength']:g} observations.")
    charts.show(charts.density_chart(bandit["arms"]))
    st.table(_posterior_table(bandit["arms"]).set_index(["segment", "arm"]))


render()
