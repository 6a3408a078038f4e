"""Writes data.csv for make.R (1500 rows, numpy seed 5): covariates x1, x2, a factor f,
an ordered factor o, treatment trt, outcomes y (gaussian) and yb (binary), case weights
w, offset off and cluster ids cl."""

import numpy as np
import pandas as pd

n = 1500
rng = np.random.default_rng(5)
d = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.uniform(size=n),
                  "f": rng.choice(list("abcd"), n), "o": rng.choice(["lo", "mid", "hi"], n),
                  "trt": rng.integers(0, 2, n)})
d["y"] = (10 + d.x2 + d.trt * (0.2 + 1.5 * (d.x1 > 0))
          + np.where(d.f.isin(["b", "d"]), 0.8, 0) * d.trt + rng.normal(size=n))
lp = -0.5 + d.trt * np.where(d.x1 > 0, 1.5, -0.2) + 0.8 * (d.f == "a")
d["yb"] = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)
d["w"] = rng.integers(1, 4, n)
d["off"] = np.sin(3 * d.x2)
d["cl"] = rng.integers(0, 30, n)
d.to_csv("data.csv", index=False, float_format="%.17g")
