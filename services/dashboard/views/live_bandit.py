"""Live bandit: a sandbox of the API's bandit state per visitor, and simulated users that make it learn.

The simulation writes only its sandbox (``/optimize`` and ``/feedback`` with ``sandbox``): the
production posteriors and calibration are never touched, and no API key is needed for it.
"""

from __future__ import annotations

import secrets
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from services.api.model_schemas import ModelInfo
from services.dashboard import charts, client, glossary, simulate
from services.dashboard import formatting as fmt

DEFAULT_SEED = 7


def _posterior_table(arms: list[dict[str, Any]], control: str) -> pd.DataFrame:
    frame = pd.DataFrame(arms)
    return pd.DataFrame(
        {
            "Segment": frame["segment"],
            "Arm": [fmt.arm_label(str(a), control) for a in frame["arm"]],
            "Conversions": frame["successes"].map(fmt.count),
            "Non-conversions": frame["failures"].map(fmt.count),
            "Conversion rate (posterior mean)": frame["mean"].map(fmt.pct),
            "95% interval": [
                f"{fmt.pct(lo)} to {fmt.pct(hi)}" for lo, hi in zip(frame.ci_low, frame.ci_high, strict=True)
            ],
            "Chance it is the best arm": frame["prob_best"].map(fmt.pct),
            "Expected loss": frame["expected_loss"].map(lambda x: fmt.pp(x, 2)),
        }
    )


def _sandbox() -> str:
    """This visitor session's sandbox name: made once, random, so visitors never share state."""
    name = st.session_state.get("bandit_sandbox")
    if name is None:
        name = "dash-" + secrets.token_hex(6)
        st.session_state["bandit_sandbox"] = name
    return str(name)


def _calibration_table(rows: list[dict[str, Any]], control: str) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    return pd.DataFrame(
        {
            "Segment": frame["segment"],
            "Arm": [fmt.arm_label(str(a), control) for a in frame["arm"]],
            "Rewards": frame["n"].map(fmt.count),
            "Observed − predicted": [
                "–" if pd.isna(m) else fmt.pp(m, 2) for m in frame["observed_minus_predicted"]
            ],
            "95% interval": [
                "–" if pd.isna(lo) else f"{fmt.pp(lo, 2)} to {fmt.pp(hi, 2)}"
                for lo, hi in zip(frame.ci_low, frame.ci_high, strict=True)
            ],
            # An estimate with its standard error (treatment arms, once rewards arrived).
            "Effect error estimate (± se)": [
                "–" if pd.isna(m) or pd.isna(sd) else f"{fmt.pp(m, 2)} ± {sd * 100:.2f}"
                for m, sd in zip(frame.shift_mean, frame.shift_sd, strict=True)
            ],
        }
    )


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


def _simulation(info: ModelInfo, sandbox: str) -> None:
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
        bar = st.progress(0.0, text=f"Sending {n} simulated users through /optimize and /feedback...")
        calls = {"done": 0}

        def post(path: str, body: Any) -> Any:
            """The API call, counted on a progress bar: a 2,000-user round takes seconds."""
            answer = client.post(path, body)
            calls["done"] += len(body["users"]) if path == "/optimize" else 1
            if path == "/optimize" or calls["done"] % 50 == 0:
                done = calls["done"]
                bar.progress(min(1.0, done / (2 * n)), text=f"{done:,} of {2 * n:,} user calls")
            return answer

        result = simulate.run_round(
            frame, features, data.arms, data.control, n, sim["rng"], post, offset, sandbox=sandbox
        )
        bar.empty()
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
        history = pd.DataFrame(sim["history"]).rename(
            columns={
                "users": "Users so far",
                "bandit": "Regret, bandit",
                "random arm": "Regret, random arm",
                "round": "Round",
                "conversions": "Conversions",
                "treated": "Treated",
            }
        )
        st.dataframe(history.round(2), hide_index=True, width="stretch")


def render() -> None:
    st.title("Live bandit")
    sandbox = _sandbox()
    st.caption(
        "Thompson sampling per user: each simulated user's effect is the model's, shifted by a draw "
        "from what `/feedback` taught about the model's error in that user's segment (weighted by the "
        "inverse of each logged propensity, so it is not biased by whom the policy chose to treat). "
        f"This page works in its own sandbox, **{sandbox}**: production's state is never read or written."
    )
    with client.shown_errors():
        info = client.model_info()
        _simulation(info, sandbox)
        bandit = client.request("GET", "/bandit", params={"sandbox": sandbox})
    st.subheader(f"Posteriors in sandbox {sandbox}")
    st.caption(f"Store: {bandit['backend']}; prior worth {bandit['prior_strength']:g} observations.")
    data = info.data
    segments = list(dict.fromkeys(a["segment"] for a in bandit["arms"]))
    for col, segment in zip(st.columns(len(segments)), segments, strict=True):
        charts.show(charts.density_chart(bandit["arms"], segment, data.arms, data.control), col)
    st.table(_posterior_table(bandit["arms"], data.control).set_index(["Segment", "Arm"]))
    st.subheader("Calibration: observed − predicted conversion")
    st.caption(
        "Per segment × arm, the mean of reward − the model's predicted conversion for the arm given, "
        "and the segment's effect error estimated from the same rewards weighted by the inverse of "
        "their logged propensities, with its standard error: an estimate, which moves every sampled "
        "effect."
    )
    st.table(_calibration_table(bandit["calibration"], data.control).set_index(["Segment", "Arm"]))
    glossary.show()


render()
