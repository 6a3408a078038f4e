"""Fixed between-study (co)variances and multivariate I^2/H^2 against metafor 3.8-1.

Reference: ``tests/meta/data/metafor_fixed_heterogeneity`` (make.R, expected.json):
``rma(..., tau2 = 0.1)`` on dat.bcg (REML/ML, z/knha, with and without ``~ ablat``),
``rma.mv(..., struct = "UN", tau2 = c(0.02, 0.01), rho = 0.5)`` on Berkey 1998 and the
per-outcome I^2/H^2 of metafor's FAQ formula for multivariate models.  Everything is
closed form given the variances: rtol 1e-10 (observed ~1e-13).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from ipdma.errors import ModelSpecificationError
from ipdma.meta import meta_analysis, mv_meta_analysis

DATA = Path(__file__).parent / "data" / "metafor_fixed_heterogeneity"
EXP = json.loads((DATA / "expected.json").read_text())
OUTCOMES = ["AL", "PD"]


def _bcg():
    d = pd.read_csv(DATA / "dat_bcg.csv")
    a, b, c, e = d.tpos, d.tneg, d.cpos, d.cneg
    d["yi"] = np.log((a / (a + b)) / (c / (c + e)))
    d["vi"] = 1 / a - 1 / (a + b) + 1 / c - 1 / (c + e)
    return d


def _berkey():
    dat = pd.read_csv(DATA / "dat_berkey1998.csv")
    trials = sorted(dat.trial.unique())
    y = np.zeros((len(trials), 2))
    S = np.zeros((len(trials), 2, 2))
    year = np.zeros(len(trials))
    for i, t in enumerate(trials):
        g = dat[dat.trial == t]
        order = [list(g.outcome).index(o) for o in OUTCOMES]
        y[i] = g.yi.to_numpy()[order]
        S[i] = g[["v1i", "v2i"]].to_numpy()[np.ix_(order, order)]
        year[i] = g.year.iloc[0] - 1983
    return y, S, year


@pytest.mark.parametrize("key", sorted(EXP["univariate"]))
def test_univariate_fixed_tau2(key):
    method, test, mods = key.split("_")
    want = EXP["univariate"][key]
    d = _bcg()
    res = meta_analysis("yi", "vi", None if mods == "none" else "~ ablat", data=d,
                        method=method, test=test, tau2=0.1)
    assert res.tau2 == 0.1 and res.tau2_fixed and np.isnan(res.se_tau2)
    assert_allclose(res.coef.to_numpy(), np.atleast_1d(want["coef"]), rtol=1e-10)
    assert_allclose(res.se.to_numpy(), np.atleast_1d(want["se"]), rtol=1e-10)
    assert res.loglik == pytest.approx(want["logLik"], rel=1e-10)
    assert res.aic == pytest.approx(want["AIC"], rel=1e-10)
    assert res.I2 == pytest.approx(want["I2"], rel=1e-10)
    assert res.H2 == pytest.approx(want["H2"], rel=1e-10)
    assert res.Q == pytest.approx(want["QE"], rel=1e-10)


def test_univariate_fixed_tau2_errors():
    d = _bcg()
    with pytest.raises(ModelSpecificationError, match="tau2"):
        meta_analysis("yi", "vi", data=d, tau2=-1)
    with pytest.raises(ModelSpecificationError, match="FE"):
        meta_analysis("yi", "vi", data=d, method="FE", tau2=0.1)


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_multivariate_fixed_psi(method):
    want = EXP["multivariate_fixed"][method]
    y, S, _ = _berkey()
    r = 0.5 * np.sqrt(0.02 * 0.01)
    Psi = np.array([[0.02, r], [r, 0.01]])
    for kw in ({"Psi": Psi}, {"tau2": [0.02, 0.01], "rho": 0.5},
               {"Psi": pd.DataFrame(Psi[::-1, ::-1], index=OUTCOMES[::-1],
                                    columns=OUTCOMES[::-1])}):
        res = mv_meta_analysis(y, S, method=method.lower(), outcome_names=OUTCOMES, **kw)
        assert res.Psi_fixed
        assert_allclose(res.Psi.to_numpy(), Psi, rtol=1e-14)
        assert [f"outcome{o}" for o in res.coef.index] == want["coef_names"]
        assert_allclose(res.coef.to_numpy(), want["coef"], rtol=1e-10)
        assert_allclose(res.vcov.to_numpy(), want["vcov"], rtol=1e-10)
        assert res.loglik == pytest.approx(want["logLik"], rel=1e-10)
        assert res.aic == pytest.approx(want["AIC"], rel=1e-10)
        assert res.Q == pytest.approx(want["QE"], rel=1e-10)


def test_multivariate_fixed_psi_errors():
    y, S, _ = _berkey()
    with pytest.raises(ModelSpecificationError, match="positive semi-definite"):
        mv_meta_analysis(y, S, Psi=[[0.01, 0.1], [0.1, 0.01]])
    with pytest.raises(ModelSpecificationError, match="method"):
        mv_meta_analysis(y, S, method="mm", tau2=0.01)
    with pytest.raises(ModelSpecificationError, match="not both"):
        mv_meta_analysis(y, S, Psi=np.eye(2), tau2=0.01)


@pytest.mark.parametrize("mods", ["none", "year"])
def test_multivariate_I2_H2(mods):
    want = EXP["multivariate_I2"][mods]
    assert want["levels"] == OUTCOMES
    y, S, year = _berkey()
    res = mv_meta_analysis(y, S, None if mods == "none" else pd.DataFrame({"year": year}),
                           outcome_names=OUTCOMES)
    # tau2 agrees with metafor to its optimiser's precision (see test_multivariate_berkey)
    assert_allclose(res.tau2.to_numpy(), want["tau2"], rtol=1e-4)
    assert res.typical_v == pytest.approx(want["typical_v"], rel=1e-10)
    # compare I2/H2 at metafor's tau2 (closed form in tau2 and v) and ours to 1e-4
    v = res.typical_v
    t2 = np.array(want["tau2"])
    assert_allclose(100 * t2 / (t2 + v), want["I2"], rtol=1e-10)
    assert_allclose(res.I2.to_numpy(), want["I2"], rtol=1e-4)
    assert_allclose(res.H2.to_numpy(), want["H2"], rtol=1e-4)
    assert "I2" in str(res.summary())
