"""Cox partial likelihood: gradient/information vs finite differences with heavy
ties, weights, offsets, strata; invariances; baseline hazard; errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipdma.errors import ConvergenceWarning, DataError, ModelSpecificationError
from ipdma.survival import CoxPH, cox_partial_likelihood, fit_cox


def tied_data(n=120, p=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    X[:, -1] = rng.integers(0, 2, n)
    t = np.round(2 * rng.exponential(np.exp(-X @ np.linspace(0.5, -0.3, p)))) / 2 + 0.5
    e = (rng.uniform(size=n) < 0.75).astype(float)
    return X, t, e, rng


@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("extras", ["none", "weights", "offset", "strata", "all"])
def test_gradient_and_information_finite_differences(ties, extras):
    X, t, e, rng = tied_data()
    assert len(np.unique(t[e == 1])) < e.sum() / 3          # heavy ties
    kw = {}
    if extras in ("weights", "all"):
        kw["weights"] = rng.uniform(0.3, 2.0, len(t))
    if extras in ("offset", "all"):
        kw["offset"] = rng.normal(scale=0.5, size=len(t))
    if extras in ("strata", "all"):
        kw["strata"] = rng.choice(["a", "b", "c"], len(t))
    b = np.array([0.3, -0.2, 0.4])
    _, u, info = cox_partial_likelihood(b, X, t, e, ties=ties, **kw)
    h = 1e-6
    num_u = np.array([(cox_partial_likelihood(b + h * ej, X, t, e, ties=ties, **kw)[0]
                       - cox_partial_likelihood(b - h * ej, X, t, e, ties=ties, **kw)[0]) / (2 * h)
                      for ej in np.eye(3)])
    np.testing.assert_allclose(u, num_u, rtol=1e-6, atol=1e-6)
    num_h = np.array([(cox_partial_likelihood(b + h * ej, X, t, e, ties=ties, **kw)[1]
                       - cox_partial_likelihood(b - h * ej, X, t, e, ties=ties, **kw)[1]) / (2 * h)
                      for ej in np.eye(3)])
    np.testing.assert_allclose(info, -num_h, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(info, info.T, atol=1e-12)


def test_efron_loglik_by_hand():
    # two tied deaths at t = 1 (risk set of 4), one death at t = 3
    X = np.array([[0.5], [1.0], [-0.3], [0.2]])
    t, e = [1, 1, 2, 3], [1, 1, 0, 1]
    b = np.array([0.7])
    r = np.exp(X[:, 0] * b[0])
    ll_e = (np.log(r[0]) + np.log(r[1]) - np.log(r.sum()) - np.log(r.sum() - 0.5 * (r[0] + r[1]))
            + np.log(r[3]) - np.log(r[3]))
    ll_b = np.log(r[0]) + np.log(r[1]) - 2 * np.log(r.sum())
    assert cox_partial_likelihood(b, X, t, e, ties="efron")[0] == pytest.approx(ll_e, rel=1e-13)
    assert cox_partial_likelihood(b, X, t, e, ties="breslow")[0] == pytest.approx(ll_b, rel=1e-13)


def test_row_order_and_offset_invariance():
    X, t, e, rng = tied_data(200, seed=1)
    df = pd.DataFrame(X, columns=["a", "b", "c"]).assign(t=t, e=e)
    m = CoxPH().fit(df, "t", "e", ["a", "b", "c"])
    perm = rng.permutation(len(df))
    m2 = CoxPH().fit(df.iloc[perm], "t", "e", ["a", "b", "c"])
    np.testing.assert_allclose(m.coef_, m2.coef_, rtol=1e-10)
    np.testing.assert_allclose(m.baseline_hazard()["cumhaz"], m2.baseline_hazard()["cumhaz"],
                               rtol=1e-10)
    # offset c * a: coefficient of a shifts by -c, the others are unchanged
    m3 = CoxPH().fit(df.assign(off=0.4 * df.a), "t", "e", ["a", "b", "c"], offset="off")
    np.testing.assert_allclose(m3.coef_, m.coef_ - [0.4, 0, 0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(m3.loglik_, m.loglik_, rtol=1e-12)


def test_integer_weights_equal_replicated_rows_breslow():
    X, t, e, rng = tied_data(150, seed=2)
    w = rng.integers(1, 4, len(t))
    rep = np.repeat(np.arange(len(t)), w)
    f1 = fit_cox(X, t, e, weights=w, ties="breslow")
    f2 = fit_cox(X[rep], t[rep], e[rep], ties="breslow")
    np.testing.assert_allclose(f1.coef, f2.coef, rtol=1e-10)
    np.testing.assert_allclose(f1.loglik, f2.loglik, rtol=1e-12)


def test_strata_equal_separate_baselines():
    X, t, e, rng = tied_data(300, seed=3)
    s = rng.choice(["A", "B"], len(t))
    df = pd.DataFrame(X, columns=["a", "b", "c"]).assign(t=t, e=e, s=s)
    m = CoxPH().fit(df, "t", "e", ["a", "b", "c"], strata="s")
    ll = sum(cox_partial_likelihood(m.coef_.to_numpy(), X[s == k], t[s == k], e[s == k])[0]
             for k in ("A", "B"))
    assert m.loglik_ == pytest.approx(ll, rel=1e-12)
    bh = m.baseline_hazard()
    assert set(bh["stratum"]) == {"A", "B"}
    with pytest.raises(DataError, match="strata"):
        m.predict_survival(df.assign(s="C").head(2), [0.5])


def test_summary_frame_plot_and_errors():
    X, t, e, _ = tied_data(100, seed=4)
    df = pd.DataFrame(X, columns=["a", "b", "c"]).assign(t=t, e=e)
    m = CoxPH().fit(df, "t", "e", ["a", "b", "c"])
    assert {"coef", "se", "ci_lower", "ci_upper", "hr"} <= set(m.to_frame().columns)
    assert "Cox" in str(m.summary())
    m.plot()
    with pytest.raises(DataError, match=r"beyond the last follow-up|censored before"):
        m.predict_survival(df, [t.max() + 1])
    with pytest.raises(ModelSpecificationError, match="ties"):
        CoxPH(ties="exact").fit(df, "t", "e", ["a"])
    with pytest.raises(ModelSpecificationError, match="singular"):
        CoxPH().fit(df.assign(d=2 * df.a), "t", "e", ["a", "d"])
    with pytest.raises(DataError, match="not numeric"):
        CoxPH().fit(df.assign(g="x"), "t", "e", ["a", "g"])


def test_monotone_likelihood_warns():
    t = np.arange(1.0, 11.0)
    x = (t > 5).astype(float)                    # all early deaths have x = 0
    with pytest.warns(ConvergenceWarning):
        fit_cox(-x[:, None] * 0 + x[:, None], t, np.ones(10), max_iter=15)
