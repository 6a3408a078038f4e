"""Writes train.csv and test.csv for make.R: a small simulated time-to-event treatment
network (3 treatments A, B, C; two 3-arm trials, A-B, A-C, B-C and a second A-B trial),
covariates x1 ~ N(0, 1), x2 ~ Bernoulli(0.5); Weibull proportional hazards

    h(t) = lambda_l rho t^(rho - 1) exp(0.5 x1 + 0.3 x2 + d_k + h_lk + g_k'x)

with d_B = -0.4, g_B = (0.3, -0.2), d_C = -0.2, g_C = (-0.3, 0.2), trial deviations
(h_lB, h_lC) ~ N(0, 0.05 [[1, 1/2], [1/2, 1]]) (consistency structure), rho = 1.2,
lambda_l = 0.3 exp(N(0, 0.2^2)); administrative censoring U(2, 4); times rounded to 0.01
(ties).  Run: python make_data.py (numpy default_rng(20261208))."""

import numpy as np
import pandas as pd

rng = np.random.default_rng(20261208)
design = [("T1", ["A", "B", "C"], 330), ("T2", ["A", "B", "C"], 270), ("T3", ["A", "B"], 220),
          ("T4", ["A", "C"], 240), ("T5", ["B", "C"], 260), ("T6", ["A", "B"], 200)]
d = {"A": 0.0, "B": -0.4, "C": -0.2}
g = {"A": np.zeros(2), "B": np.array([0.3, -0.2]), "C": np.array([-0.3, 0.2])}
beta = np.array([0.5, 0.3])
rho = 1.2
rows = []
for tr, arms, n in design:
    lam = 0.3 * np.exp(rng.normal(0, 0.2))
    dev = rng.multivariate_normal([0, 0], 0.05 * np.array([[1, 0.5], [0.5, 1]]))
    h = {"A": 0.0, "B": dev[0], "C": dev[1]}
    arm = np.array(arms)[rng.permutation(np.arange(n) % len(arms))]
    X = np.column_stack([rng.normal(size=n), rng.integers(0, 2, n)])
    eta = X @ beta + np.array([d[a] + h[a] for a in arm]) + np.einsum(
        "ij,ij->i", X, np.array([g[a] for a in arm]))
    T = (rng.exponential(size=n) / (lam * np.exp(eta))) ** (1 / rho)
    C = rng.uniform(2, 4, n)
    time = np.maximum(np.round(np.minimum(T, C), 2), 0.01)
    rows.append(pd.DataFrame({"trial": tr, "trt": arm, "x1": np.round(X[:, 0], 6),
                              "x2": X[:, 1], "time": time, "event": (T <= C).astype(int)}))
pd.concat(rows, ignore_index=True).to_csv("train.csv", index=False)
Xt = np.column_stack([np.round(rng.normal(size=8), 6), rng.integers(0, 2, 8)])
pd.DataFrame({"x1": Xt[:, 0], "x2": Xt[:, 1]}).to_csv("test.csv", index=False)
