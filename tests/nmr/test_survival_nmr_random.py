"""Random treatment effects in the Bayesian time-to-event NMR (log-HR heterogeneity tau).

Frequentist check (coxme, a one-stage Cox model with random treatment effects, is not
installed here): the two-stage random-effects meta-analysis of per-trial coxph log hazard
ratios, metafor ``rma(method = "REML")`` and Paule-Mandel, in
``data/survival_re_nmr`` (make.R + expected.json; 12 two-arm trials, true d = -0.4,
tau = 0.35).  One-stage (piecewise-constant baselines) and two-stage estimates differ
by model and by the half-normal(1) prior on tau, so the tolerances are those of
agreement, not of equality."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ipdma.errors import ModelSpecificationError, SamplerWarning
from ipdma.nmr import RiskNMR

DATA = Path(__file__).parent / "data" / "survival_re_nmr"
COLS = dict(trial="trial", treatment="treatment", time="time", event="event")


@pytest.fixture(scope="module")
def case():
    return pd.read_csv(DATA / "data.csv"), json.loads((DATA / "expected.json").read_text())


@pytest.fixture(scope="module")
def re_fit(case):
    pytest.importorskip("numpyro")
    df, _ = case
    with warnings.catch_warnings():
        warnings.simplefilter("error", SamplerWarning)   # R-hat <= 1.01, bulk ESS >= 400
        return RiskNMR(engine="bayes", effects="random", draws=1000, warmup=500, chains=2,
                       random_state=1).fit(df, risk=None, **COLS)


def test_random_effects_agree_with_two_stage_reml(re_fit, case):
    _, exp = case
    p = re_fit.params
    assert p.index.tolist() == ["d[A]", "tau"]
    reml = exp["REML"]
    # observed: d -0.386 vs -0.380 (REML), -0.382 (PM); tau median 0.161 vs REML 0.156, PM 0.182
    assert abs(p.loc["d[A]", "estimate"] - reml["d"]) < 0.03
    assert p.loc["d[A]", "se"] == pytest.approx(reml["se"], rel=0.25)
    med = float(np.median(re_fit.tau_draws))
    assert abs(med - reml["tau"]) < 0.05 and abs(med - exp["PM"]["tau"]) < 0.05
    # 95 % credible interval of tau vs metafor's Q-profile interval (0, 0.429)
    assert p.loc["tau", "lower"] < 0.05
    assert abs(p.loc["tau", "upper"] - reml["tau_upper"]) < 0.1
    d = re_fit.diagnostics
    assert d["max_rhat"] <= 1.01 and d["min_ess_bulk"] >= 400 and d["divergences"] == 0
    post = re_fit.inference_data.posterior
    assert "tau" in post and post["z"].shape[-1] == 12          # one contrast per trial


def test_random_effects_predictions_use_mean_effects(re_fit):
    pred = re_fit.predict(horizon=1.5, tau=2.5)
    assert {"surv", "surv_diff", "rmst_diff", "hr"} <= set(pred.columns)
    hr = pred.loc[pred["treatment"] == "A", "hr"].to_numpy()
    np.testing.assert_allclose(np.log(hr), re_fit.params.loc["d[A]", "estimate"], atol=0.05)


def test_potential_is_the_piecewise_exponential_posterior(case):
    """The hand-written potential equals a direct numpy evaluation of the log posterior
    (per-patient exposure per piece, events, N(0, sd^2) priors, half-normal tau with the
    log-Jacobian, standard-normal z)."""
    pytest.importorskip("numpyro")
    from ipdma.nmr._survival import _pieces, _potential, prepare_survival

    df, _ = case
    des = prepare_survival(df, risk=None, reference=None, centring="trial", **COLS)
    ptrial, lo, hi, W, D = _pieces(des, 4)
    X = des.design_matrix()
    A = des.re_arm_trial.size
    ZL = np.zeros((des.n, A))
    has = des.re_row >= 0
    ZL[has] = des.re_chol[des.re_row[has]]
    rng = np.random.default_rng(0)
    b, lg, w, zr = rng.normal(size=X.shape[1]), rng.normal(-1, 0.3, W.shape[1]), -1.2, \
        rng.normal(size=A)
    pe = _potential(10.0, True, 1.0, "half-normal")
    args = (X, W, des.y @ X, D, ZL, des.y @ ZL)
    got = float(pe({"b": b, "l": lg, "tau": w, "z": zr}, args))
    from scipy import stats

    tau = np.exp(w)
    eta = X @ b + tau * ZL @ zr
    # piece of each event: the trial's interval containing the time
    ll = 0.0
    for i in range(des.n):                     # direct loop over patients (reference)
        for q in np.flatnonzero(ptrial == des.trial_idx[i]):
            expo = max(0.0, min(des.time[i], hi[q]) - lo[q])
            ll -= np.exp(eta[i] + lg[q]) * expo
            if des.y[i] == 1 and lo[q] < des.time[i] <= hi[q]:
                ll += eta[i] + lg[q]
    lp = (stats.norm.logpdf(b, 0, 10).sum() + stats.norm.logpdf(lg, 0, 10).sum()
          + stats.halfnorm.logpdf(tau, scale=1.0) + w + stats.norm.logpdf(zr).sum())
    assert got == pytest.approx(-(lp + ll), rel=1e-5)


def test_random_effects_need_the_bayes_engine(case):
    df, _ = case
    with pytest.raises(ModelSpecificationError, match="engine='bayes'"):
        RiskNMR(engine="ml", effects="random").fit(df, risk=None, **COLS)


def test_bayes_weibull_agrees_with_survreg_fit():
    """Bayesian Weibull PH NMR (NUTS) vs the ML survreg NMR on a seeded network: posterior
    means within 0.25 ML SEs, sds within 15 %, predictions within 0.25 SEs and their
    spreads within 20 % (observed: S/RMST within 0.1 SE, SEs within 5 %), shape = 1/scale."""
    pytest.importorskip("numpyro")
    from ipdma.datasets import make_survival_network

    cols = dict(COLS, risk="R")
    sim = make_survival_network(1000, random_state=11)
    df = sim.data.assign(R=sim.truth["true_lp"])
    ml = RiskNMR(engine="ml", survival_model="weibull").fit(df, **cols)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SamplerWarning)
        by = RiskNMR(engine="bayes", survival_model="weibull", draws=600, warmup=400,
                     random_state=2).fit(df, **cols)
    z = (by.params["estimate"] - ml.params["estimate"]) / ml.params["se"]
    assert np.all(np.abs(z) < 0.25), z
    np.testing.assert_allclose(by.params["se"], ml.params["se"], rtol=0.15)
    ls = ml.weibull_params.loc["log(scale)"]
    assert abs(by.weibull_params.loc["log(shape)", "estimate"] + ls["estimate"]) < 0.25 * ls["se"]
    assert "log_lambda" in by.inference_data.posterior and by.baseline_pieces is None
    pm, pb = (m.predict([0.0, 0.6], horizon=1.5, tau=2.5) for m in (ml, by))
    for k in ("surv", "rmst", "surv_diff", "rmst_diff"):
        np.testing.assert_allclose(pb[k], pm[k], atol=0.25 * pm[k + "_se"].max() + 1e-9)
        nz = pm[k + "_se"] > 0
        np.testing.assert_allclose(pb.loc[nz, k + "_se"], pm.loc[nz, k + "_se"], rtol=0.2)
    assert "Weibull PH" in str(by.summary())
