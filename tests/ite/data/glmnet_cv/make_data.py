"""Writes trial.csv for make.R: one simulated trial (n = 180, 4 covariates, one binary)
with glmnet-style fold ids, sample(rep(1:nfolds, length = n)), for 10 and 5 folds."""

import numpy as np
import pandas as pd

rng = np.random.default_rng(20261122)
n = 180
X = np.column_stack([rng.normal(size=n), rng.normal(2, 3, size=n), rng.integers(0, 2, n),
                     rng.gamma(2.0, 1.5, size=n)])
t = rng.integers(0, 2, n)
y = (3 + X @ np.array([1.0, -0.5, 0.8, 0.3])
     + t * (1.5 + 0.9 * X[:, 0] - 0.15 * X[:, 1] + 0.2 * X[:, 3]) + rng.normal(scale=2.0, size=n))
f10 = rng.permutation(np.arange(n) % 10) + 1
f5 = rng.permutation(np.arange(n) % 5) + 1
pd.DataFrame({"x1": X[:, 0], "x2": X[:, 1], "x3": X[:, 2], "x4": X[:, 3], "t": t, "y": y,
              "foldid10": f10, "foldid5": f5}).to_csv("trial.csv", index=False,
                                                      float_format="%.17g")
