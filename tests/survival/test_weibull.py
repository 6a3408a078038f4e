"""Weibull AFT regression against R's survreg (reference case survival_prognostic)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate

from ipdma.errors import ColumnNotFoundError, MissingDataError, OutcomeError
from ipdma.survival import (
    WeibullRegression,
    fit_weibull,
    kaplan_meier,
    weibull_quantile,
    weibull_rmst,
    weibull_survival,
)
from ipdma.survival._weibull import _derivs

RTOL = 1e-7          # README: survreg coef, scale, vcov rtol 1e-7
RTOL_LL = 1e-10      # loglik rtol 1e-10
XS = ["x1", "x2", "x3", "x4", "x5"]


@pytest.fixture
def case(ref_case):
    return ref_case("survival_prognostic")


@pytest.fixture
def data(case):
    return case.csv("surv_ipd.csv")


def test_survreg_control(case, data):
    r = case.expected["survreg_control"]
    ctrl = data[data.trt == 0]
    m = WeibullRegression().fit(ctrl, time="time", event="status", covariates=XS)
    assert m.coef_names_ == r["coef_names"]
    np.testing.assert_allclose(m.coef.to_numpy(), r["coef"], rtol=RTOL)
    np.testing.assert_allclose(m.scale, r["scale"], rtol=RTOL)
    np.testing.assert_allclose(m.log_scale, r["log_scale"], rtol=RTOL)
    assert list(m.vcov.index) == r["vcov_names"]
    np.testing.assert_allclose(m.vcov.to_numpy(), r["vcov"], rtol=RTOL)
    np.testing.assert_allclose(m.se.to_numpy(), r["se"], rtol=RTOL)
    np.testing.assert_allclose(m.loglik, r["loglik"], rtol=RTOL_LL)
    np.testing.assert_allclose(m.loglik_null, r["loglik_null"], rtol=RTOL_LL)
    assert m.df == r["df"]
    np.testing.assert_allclose(m.shape, r["weibull_shape"], rtol=RTOL)
    hr = m.hazard_ratios()
    np.testing.assert_allclose(hr["log_hr"].to_numpy(), r["ph_loghr"], rtol=RTOL)
    # predictions for the first 20 control-arm patients
    first = ctrl.head(20)
    np.testing.assert_allclose(m.predict_lp(first), r["pred"]["lp"], rtol=1e-8)
    S = m.predict_survival(first, r["pred"]["tstar"])
    np.testing.assert_allclose(S.to_numpy(), r["pred"]["S"], rtol=1e-8)


def test_survreg_all_with_factor(case, data):
    r = case.expected["survreg_all"]
    d = data.assign(ftrial=data.trial.astype(str))
    m = WeibullRegression().fit(d, "time", "status", ["ftrial", "trt", *XS])
    assert m.coef_names_[1:5] == ["ftrial[2]", "ftrial[3]", "ftrial[4]", "ftrial[5]"]
    np.testing.assert_allclose(m.coef.to_numpy(), r["coef"], rtol=RTOL)
    np.testing.assert_allclose(m.scale, r["scale"], rtol=RTOL)
    np.testing.assert_allclose(m.vcov.to_numpy(), r["vcov"], rtol=RTOL)
    np.testing.assert_allclose(m.loglik, r["loglik"], rtol=RTOL_LL)
    np.testing.assert_allclose(m.loglik_null, r["loglik_null"], rtol=RTOL_LL)
    np.testing.assert_allclose(m.hazard_ratios()["log_hr"].to_numpy(), r["ph_loghr"], rtol=RTOL)


def test_gradient_hessian_finite_differences(data):
    rng = np.random.default_rng(3)
    d = data.head(300)
    X = np.column_stack([np.ones(len(d)), d[XS].to_numpy()])
    y, ev = np.log(d.time.to_numpy()), d.status.to_numpy(float)
    w = rng.uniform(0.5, 2, len(d))
    off = rng.normal(scale=0.1, size=len(d))
    th = np.r_[1.0, rng.normal(scale=0.2, size=5), -0.3][None, :]
    _ll, g, H = _derivs(th, y, ev, X, w[None, :], off)
    h = 1e-6
    for j in range(th.shape[1]):
        e = np.zeros_like(th)
        e[0, j] = h
        lp_ = _derivs(th + e, y, ev, X, w[None, :], off)
        lm_ = _derivs(th - e, y, ev, X, w[None, :], off)
        np.testing.assert_allclose((lp_[0] - lm_[0]) / (2 * h), g[0, j], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose((lp_[1] - lm_[1])[0] / (2 * h), H[0, j], rtol=1e-5, atol=1e-5)


def test_weights_equal_replication(data):
    d = data.head(200)
    X = np.column_stack([np.ones(len(d)), d[["x1", "x2"]].to_numpy()])
    w = np.tile([1.0, 2.0], 100)
    a = fit_weibull(d.time, d.status, X, weights=w)
    rep = np.repeat(np.arange(len(d)), w.astype(int))
    b = fit_weibull(d.time.to_numpy()[rep], d.status.to_numpy()[rep], X[rep])
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-10)
    np.testing.assert_allclose(a.loglik, b.loglik, rtol=1e-12)
    np.testing.assert_allclose(a.vcov, b.vcov, rtol=1e-8)


def test_offset_shifts_intercept(data):
    d = data.head(200)
    X = np.column_stack([np.ones(len(d)), d.x1])
    a = fit_weibull(d.time, d.status, X)
    b = fit_weibull(d.time, d.status, X, offset=np.full(len(d), 0.3))
    np.testing.assert_allclose(b.coef, a.coef - [0.3, 0.0], atol=1e-12)
    np.testing.assert_allclose(b.loglik, a.loglik, rtol=1e-12)


def test_closed_forms_against_numerical_integration():
    lp, sc, tau = 0.7, 0.6, 2.5
    rm, d_lp, d_ls = weibull_rmst(tau, lp, sc, gradient=True)
    num = integrate.quad(lambda t: weibull_survival(t, lp, sc), 0, tau, epsabs=1e-13)[0]
    np.testing.assert_allclose(rm, num, rtol=1e-10)
    h = 1e-6
    np.testing.assert_allclose(d_lp, (weibull_rmst(tau, lp + h, sc) - weibull_rmst(tau, lp - h, sc))
                               / (2 * h), rtol=1e-7)
    fd = (weibull_rmst(tau, lp, sc * np.exp(h)) - weibull_rmst(tau, lp, sc * np.exp(-h))) / (2 * h)
    np.testing.assert_allclose(d_ls, fd, rtol=1e-7)
    q = weibull_quantile(0.5, lp, sc)
    np.testing.assert_allclose(weibull_survival(q, lp, sc), 0.5, rtol=1e-13)


def test_effect_scales_and_rmst(data):
    m = WeibullRegression().fit(data, "time", "status", ["trt", "x1"])
    tr = m.time_ratios("trt")
    np.testing.assert_allclose(tr.loc["trt", "estimate"], np.exp(m.coef["trt"]))
    hr = m.hazard_ratios("trt")
    np.testing.assert_allclose(np.log(hr.loc["trt", "estimate"]), -m.coef["trt"] / m.scale)
    rm = m.predict_rmst(data.head(3), tau=3.0)
    lp = m.predict_lp(data.head(3))
    np.testing.assert_allclose(rm, weibull_rmst(3.0, lp, m.scale))
    med = m.predict_quantile(data.head(3), 0.5)
    assert med.shape == (3, 1)
    assert "Hazard ratios" in str(m.summary())


def test_errors(data):
    with pytest.raises(ColumnNotFoundError, match="tme"):
        WeibullRegression().fit(data, "tme", "status", ["x1"])
    bad = data.assign(time=data.time.where(data.index != 4, 0.0))
    with pytest.raises(OutcomeError, match="row 4"):
        WeibullRegression().fit(bad, "time", "status", ["x1"])
    bad = data.assign(status=data.status.replace({1: 2}))
    with pytest.raises(OutcomeError, match="1 = event"):
        WeibullRegression().fit(bad, "time", "status", ["x1"])
    bad = data.assign(x1=data.x1.where(data.index != 2))
    with pytest.raises(MissingDataError, match="x1"):
        WeibullRegression().fit(bad, "time", "status", ["x1"])


def test_km_matches_definition():
    t = np.array([1, 2, 2, 3, 4, 4, 5.0])
    d = np.array([1, 1, 0, 1, 0, 1, 0])
    km = kaplan_meier(t, d).to_frame()          # the KM of the tree plots' panels
    assert km["n_risk"].tolist() == [7, 6, 4, 3, 1]
    expected = np.cumprod([6 / 7, 5 / 6, 3 / 4, 2 / 3, 1.0])
    np.testing.assert_allclose(km["surv"], expected)
    assert isinstance(km, pd.DataFrame)


def test_degenerate_data_warn_instead_of_crash():
    from ipdma.errors import ConvergenceWarning

    X = np.column_stack([np.ones(20), np.repeat([0.0, 1.0], 10)])
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        f = fit_weibull(np.full(20, 2.0), np.tile([1.0, 0.0], 10), X)   # identical times
    assert np.isfinite(f.loglik)
    t = np.linspace(0.5, 5, 20)
    ev = np.r_[np.ones(10), np.zeros(10)]                               # no events in arm 1
    with pytest.warns(ConvergenceWarning):
        f = fit_weibull(t, ev, X)
    assert f.coef[1] > 5                                                 # diverging time ratio
