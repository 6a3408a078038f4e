"""Writes dev.csv for make.R: a simulated 3-trial binary-outcome data set (n = 900) with a
column 'fold' of glmnet-style fold ids, sample(rep(1:10, length = n))."""

import numpy as np
import pandas as pd

rng = np.random.default_rng(20261207)
n = 900
trial = rng.integers(0, 3, n)
age = rng.normal(40, 8, n)
sex = rng.integers(0, 2, n)
edss = rng.gamma(2, 1.2, n)
region = rng.choice(["EU", "US", "ROW"], n)
noise = rng.normal(size=n)
lp = -0.4 - 0.03 * (age - 40) - 0.3 * sex + 0.25 * edss + 0.3 * (region == "US")
y = rng.binomial(1, 1 / (1 + np.exp(-lp)))
fold = rng.permutation(np.arange(n) % 10) + 1
pd.DataFrame({"trial": [f"T{t + 1}" for t in trial], "age": age, "sex": sex, "edss": edss,
              "region": region, "noise": noise, "y": y, "fold": fold}).to_csv(
    "dev.csv", index=False, float_format="%.17g")
