"""Writes trial.csv for make.R: one small simulated trial (n = 50, 3 covariates, one binary)."""

import numpy as np
import pandas as pd

rng = np.random.default_rng(20261207)
n = 50
X = np.column_stack([rng.normal(size=n), rng.normal(1, 2, size=n), rng.integers(0, 2, n)])
t = rng.integers(0, 2, n)
y = (1 + X @ np.array([0.8, -0.4, 0.5])
     + t * (1.2 + 0.7 * X[:, 0] - 0.2 * X[:, 1] + 0.3 * X[:, 2]) + rng.normal(scale=1.5, size=n))
pd.DataFrame({"x1": X[:, 0], "x2": X[:, 1], "x3": X[:, 2], "t": t, "y": y}).to_csv(
    "trial.csv", index=False, float_format="%.17g")
