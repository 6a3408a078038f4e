"""Small IPD frames shared by the ipdma.data tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def make_frame(seed: int = 0, n_per_arm: int = 20, binary: bool = True) -> pd.DataFrame:
    """Three trials forming the network A-B (t1), A-B-C (t2), C-D (t3)."""
    rng = np.random.default_rng(seed)
    design = {"t1": ["A", "B"], "t2": ["A", "B", "C"], "t3": ["C", "D"]}
    trial = np.concatenate([[t] * (n_per_arm * len(a)) for t, a in design.items()])
    treat = np.concatenate([np.repeat(a, n_per_arm) for a in design.values()])
    n = len(trial)
    age = rng.normal(50, 10, n).round(1)
    sex = rng.choice(["female", "male"], n)
    stage = rng.choice(["I", "II", "III"], n)
    smoker = rng.random(n) < 0.3
    lin = -1 + 0.03 * (age - 50) + 0.5 * (treat == "B")
    if binary:
        y = (rng.random(n) < 1 / (1 + np.exp(-lin))).astype(int)
    else:
        y = lin + rng.normal(size=n)
    return pd.DataFrame({
        "pid": np.arange(n), "study": trial, "arm": treat, "y": y, "age": age, "sex": sex,
        "stage": stage, "smoker": smoker, "extra": rng.random(n),
    })


@pytest.fixture
def frame() -> pd.DataFrame:
    return make_frame()


@pytest.fixture
def frame_cont() -> pd.DataFrame:
    return make_frame(binary=False)


IPD_ARGS = {"trial": "study", "treatment": "arm", "outcome": "y",
            "covariates": ["age", "sex", "stage", "smoker"], "patient_id": "pid"}


@pytest.fixture
def ipd_args() -> dict:
    return dict(IPD_ARGS)
