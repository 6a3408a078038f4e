"""Multivariate meta-analysis against metafor 3.8-1 ``rma.mv`` (case meta_multivariate_berkey1998).

Tolerances from the case README: GLS rtol 1e-10; REML/ML coefficients and vcov rtol
1e-5; tau^2, rho and BLUPs atol 1e-5; logLik atol 1e-6; published values atol 1e-4.

Definitional notes:
* ``rma.mv`` without random effects still uses its default ``method = "REML"``, so its
  logLik for the GLS fit is the *restricted* log-likelihood at Psi = 0: our ``loglik``
  for method="fixed" is that one too (``loglik_ml`` holds the ML one).
* metafor's QM for ``~ 0 + outcome (+ outcome:year)`` tests all coefficients; that is
  our ``wald_test()`` default.
* metafor's ``ranef`` SE is sqrt(diag(Psi - Psi P_ii Psi)); ours is the same formula.
  Our ``blup()`` SE is the prediction-error SE of X b + u (not stored by metafor), so
  only the BLUP values are compared.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from ipdma.meta import mv_meta_analysis

OUTCOMES = ["AL", "PD"]  # metafor's factor-level order


@pytest.fixture
def berkey(ref_case):
    case = ref_case("meta_multivariate_berkey1998")
    dat = case.csv("dat_berkey1998.csv")
    exp = case.expected
    trials = sorted(dat.trial.unique())
    y = np.zeros((len(trials), 2))
    S = np.zeros((len(trials), 2, 2))
    year = np.zeros(len(trials))
    for i, t in enumerate(trials):
        g = dat[dat.trial == t]
        order = [list(g.outcome).index(o) for o in OUTCOMES]
        y[i] = g.yi.to_numpy()[order]
        block = g[["v1i", "v2i"]].to_numpy()      # rows/cols in CSV order (PD, AL)
        S[i] = block[np.ix_(order, order)]
        year[i] = g.year.iloc[0] - 1983
    # the within-trial blocks are those of the stored 10 x 10 V
    V = np.array(exp["V"])
    assert_allclose(V[:2, :2], dat[["v1i", "v2i"]].to_numpy()[:2], rtol=0)
    studies = [str(t) for t in trials]
    return y, S, year, studies, exp


def _fit(berkey, method, with_year):
    y, S, year, studies, _ = berkey
    mods = pd.DataFrame({"year": year}) if with_year else None
    return mv_meta_analysis(y, S, mods, method=method, outcome_names=OUTCOMES,
                            study_names=studies)


@pytest.mark.parametrize("with_year", [False, True])
def test_fixed_effect_gls(berkey, with_year):
    res = _fit(berkey, "fixed", with_year)
    want = berkey[-1]["FE_year" if with_year else "FE_intercept_only"]
    assert_allclose(res.coef.values, want["coef"], rtol=1e-10)
    assert_allclose(res.se.values, want["se"], rtol=1e-10)
    assert_allclose(res.vcov.values, np.array(want["vcov"]), rtol=1e-10)
    assert_allclose(res.zval.values, want["zval"], rtol=1e-10)
    assert_allclose(res.ci()["ci_lb"].values, want["ci_lb"], rtol=1e-10)
    assert_allclose(res.loglik_reml, want["logLik"], rtol=1e-10)
    assert_allclose(res.loglik, want["logLik"], rtol=1e-10)
    assert_allclose(res.aic, want["AIC"], rtol=1e-10)
    assert_allclose(res.Q, want["QE"], rtol=1e-10)
    assert res.Q_df == want["QEdf"]
    assert_allclose(res.Q_pval, want["QEp"], rtol=1e-9)
    qm, df, qmp = res.wald_test()
    assert_allclose(qmp, want["QMp"], rtol=1e-6, atol=1e-300)
    assert_allclose(qm, want["QM"], rtol=1e-10)
    assert df == want["QMdf"]
    assert np.all(res.Psi.values == 0)


@pytest.mark.parametrize("method", ["reml", "ml"])
@pytest.mark.parametrize("with_year", [False, True])
def test_random_effects(berkey, method, with_year):
    res = _fit(berkey, method, with_year)
    want = berkey[-1][f"{method.upper()}_{'year' if with_year else 'intercept_only'}"]
    assert res.converged
    if with_year:
        assert list(res.coef.index) == ["AL", "PD", "AL:year", "PD:year"]
    # rtol 1e-5 as the README says, plus atol 1e-7 for the near-zero PD:year slope
    # (9.7e-4): metafor's nlminb stopped 6e-8 away from the optimum there (ours has a
    # higher log-likelihood, checked below; tightening our gtol 1e4-fold moves our
    # estimate by < 1e-9), so a pure relative check of that element would test
    # metafor's stopping rule rather than the model.
    assert_allclose(res.coef.values, want["coef"], rtol=1e-5, atol=1e-7)
    assert res.loglik >= want["logLik"] - 1e-12
    assert_allclose(res.se.values, want["se"], rtol=1e-5)
    # same reason for the small off-diagonal covariances (1e-4 against diagonals 6e-3):
    # rtol 1e-5 elementwise, with atol 1e-5 x the largest element
    vc = np.array(want["vcov"])
    assert_allclose(res.vcov.values, vc, rtol=1e-5, atol=1e-5 * np.abs(vc).max())
    assert_allclose(res.tau2.values, want["tau2"], atol=1e-5)
    assert_allclose(res.rho.loc["AL", "PD"], want["rho"], atol=1e-5)
    assert_allclose(res.Psi.values, np.array(want["G"]), atol=1e-5)
    assert_allclose(res.loglik, want["logLik"], atol=1e-6)
    assert_allclose(res.aic, want["AIC"], atol=1e-5)
    assert_allclose(res.Q, want["QE"], rtol=1e-10)
    # QM = b' V^-1 b compounds the (metafor-side) convergence error of b and V above
    assert_allclose(res.wald_test()[0], want["QM"], rtol=1e-4)
    # random effects (metafor ranef) and BLUPs X b + u
    rf = res.ranef()
    labels = [f"{o} | {s}" for s, o in zip(rf.study, rf.outcome, strict=True)]
    order = [want["ranef"]["label"].index(lab) for lab in labels]
    assert_allclose(rf["ranef"].values, np.array(want["ranef"]["blup"])[order], atol=1e-5)
    assert_allclose(rf["se"].values, np.array(want["ranef"]["se"])[order], atol=1e-5)
    assert_allclose(rf["pi_lb"].values, np.array(want["ranef"]["pi_lb"])[order], atol=1e-5)
    fb = want["fitted_blup"]
    ref = {(str(t), o): v for t, o, v in zip(fb["trial"], fb["outcome"], fb["blup"], strict=True)}
    b = res.blup()
    assert_allclose(b["blup"].values,
                    [ref[(s, o)] for s, o in zip(b.study, b.outcome, strict=True)], atol=1e-5)
    # fitted values X b
    pr = res.predict(interval="confidence")
    assert pr.shape[1] == 4


def test_published_berkey_table2(berkey):
    pub = berkey[-1]["published"]
    res = _fit(berkey, "ml", True)
    assert_allclose(res.coef.values, pub["coef_AL_PD_ALyear_PDyear"], atol=1e-4)
    assert_allclose(res.se.values, pub["se"], atol=1e-4)
    assert_allclose(res.tau2.values, pub["tau2_AL_PD"], atol=1e-4)
    assert_allclose(res.rho.loc["AL", "PD"], pub["rho"], atol=1e-4)


def test_protocol_and_plots(berkey):
    import matplotlib.axes

    res = _fit(berkey, "reml", True)
    df = res.to_frame()
    assert list(df.columns[:3]) == ["term", "outcome", "moderator"]
    text = str(res.summary())
    assert "Psi" in text and "REML" in text
    assert isinstance(res.plot(), matplotlib.axes.Axes)
    res0 = _fit(berkey, "reml", False)
    assert isinstance(res0.plot(outcome="PD"), matplotlib.axes.Axes)
    pr = res.predict(pd.DataFrame({"year": [0.0, 5.0]}), interval="prediction")
    assert pr.shape == (4, 6)
    # prediction interval adds Psi to the variance of the mean
    se_pi = (pr["pi_ub"] - pr["pred"]) / 1.959963984540054
    assert_allclose(se_pi.values ** 2,
                    pr["se"].values ** 2 + np.tile(res.tau2.values, 2), rtol=1e-10)
    cov = res.predict_cov([[5.0]])
    assert_allclose(np.sqrt(np.diag(cov[0])), pr["se"].values[2:], rtol=1e-12)
