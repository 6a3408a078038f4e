"""Pooler (a) with aggregate-data trials: an AD trial informs delta only; with fixed
effects the pooled coefficients move exactly as the GLS computation says."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipdma.errors import DataError
from ipdma.ite import MVMAPooler, fit_site


def _sites(K=4, p=2, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(K):
        X = rng.normal(size=(200, p))
        t = rng.integers(0, 2, 200)
        y = X.sum(1) + t * (1 + 0.5 * X[:, 0]) + rng.normal(size=200)
        out.append(fit_site(X, t, y, trial=f"T{k}", pooler=MVMAPooler(method="fixed")))
    return out


def test_fixed_effect_gls_update():
    sites = _sites()
    base = MVMAPooler(method="fixed").fit(sites)
    ad = pd.DataFrame({"trial": ["AD1", "AD2"], "delta": [1.6, 0.7], "se": [0.15, 0.3]})
    new = MVMAPooler(method="fixed", aggregate=ad).fit(sites)
    # direct GLS with the AD trials as selection rows e1' theta
    A = sum(np.linalg.inv(s.cov) for s in sites)
    b = sum(np.linalg.inv(s.cov) @ s.coef for s in sites)
    e1 = np.eye(A.shape[0])[0]
    for d, se in zip(ad["delta"], ad["se"]):
        A = A + np.outer(e1, e1) / se**2
        b = b + e1 * d / se**2
    np.testing.assert_allclose(new.coef_, np.linalg.solve(A, b), rtol=1e-10)
    np.testing.assert_allclose(new.vcov_, np.linalg.inv(A), rtol=1e-10)
    # one trial at a time: theta + V e1 (d - delta) / (v + V11)
    one = MVMAPooler(method="fixed", aggregate=ad.iloc[:1]).fit(sites)
    V, th = base.vcov_, base.coef_
    upd = th + V[:, 0] * (1.6 - th[0]) / (0.15**2 + V[0, 0])
    np.testing.assert_allclose(one.coef_, upd, rtol=1e-10)
    assert one.coef_[0] > base.coef_[0]          # pulled towards the AD estimate 1.6
    assert one.trials_ == base.trials_           # AD trials are not IPD trials


def test_reml_with_aggregate_runs_and_errors():
    sites = _sites(K=6, seed=1)
    ad = pd.DataFrame({"trial": ["AD1"], "delta": [1.2], "se": [0.2]})
    res = MVMAPooler(method="reml", structure="diagonal", aggregate=ad).fit(sites)
    assert np.all(np.isfinite(res.coef_))
    with pytest.raises(DataError, match="also IPD"):
        MVMAPooler(method="fixed", aggregate=ad.assign(trial="T0")).fit(sites)
    with pytest.raises(DataError, match="se > 0"):
        MVMAPooler(aggregate=ad.assign(se=0.0))
    with pytest.raises(DataError, match="lacks"):
        MVMAPooler(aggregate=ad.drop(columns="se"))
