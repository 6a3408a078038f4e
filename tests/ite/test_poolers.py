"""Stage-2 poolers: invariants, feasibility, federation (site summaries)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipdma.errors import DataError, InfeasibleMethodError
from ipdma.ite import (
    BayesMVMAPooler,
    OLSLearner,
    SiteSummary,
    TwoStageITE,
    WeightedITEPooler,
    feasible_pairs,
    fit_site,
    pool_sites,
    trial_seeds,
)

P = 3
COLS = [f"x{j + 1}" for j in range(P)]


def _one_trial(n=250, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, P))
    t = rng.integers(0, 2, n)
    y = 1 + X.sum(1) + t * (1 + X[:, 0] - X[:, 2]) + rng.normal(size=n)
    return pd.DataFrame(dict(zip(COLS, X.T, strict=True), t=t, y=y))


def _multi(K=5, seed=0, identical=False):
    parts = []
    for k in range(K):
        d = _one_trial(seed=seed if identical else seed + k)
        if not identical:
            d["y"] += d["t"] * np.random.default_rng(100 + k).normal(scale=0.3)
        d["trial"] = f"T{k + 1}"
        parts.append(d)
    return pd.concat(parts, ignore_index=True)


def _fit(df, learner, pooler, **kw):
    return TwoStageITE(learner, pooler, **kw).fit(df, trial="trial", treatment="t",
                                                  outcome="y", covariates=COLS, treated=1)



@pytest.mark.parametrize("learner,pooler,opts,tol,lopts", [
    ("ols", "mvma", {"method": "fixed"}, 1e-10, {}),
    ("ols", "mvma", {"method": "reml"}, 1e-6, {}),
    ("ols", "weighted-aux-ols", {}, 1e-10, {}),
    ("ols", "weighted-bootstrap", {}, 1e-10, {}),
    # exact posterior moments (conjugate prior): the invariant holds to rounding
    ("bayes-lm", "posterior-mix", {}, 1e-10, {"prior": "conjugate"}),
    # the method's prior (Gibbs, each trial its own seed): Monte-Carlo error only
    ("bayes-lm", "posterior-mix", {}, None, {}),
    ("bayes-lm", "bayes-mvma", {}, None, {}),
])
def test_identical_trials_give_the_single_trial_ite(learner, pooler, opts, tol, lopts):
    df = _multi(K=4, identical=True)
    single = _one_trial(seed=0)
    X_new = single[COLS].iloc[:50]
    with _nowarn():
        model = _fit(df, learner, pooler, n_boot=20, random_state=3, pooler_options=opts,
                     learner_options=lopts)
        pred = model.predict(X_new)
    if learner == "ols":
        ref = OLSLearner().fit(single[COLS], single["t"], single["y"]).predict_ite(X_new)
    else:
        ref = model.fits_[0].learner.predict_ite(X_new)
    if tol is None:  # Bayesian: Monte-Carlo error only
        sd = pred["se"].to_numpy()
        assert np.all(np.abs(pred["ite"] - ref) < 0.1 * sd + 1e-3)
    else:
        np.testing.assert_allclose(pred["ite"], ref, rtol=tol, atol=tol)


class _nowarn:
    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


def _summaries(K=4, N=30, seed=0):
    rng = np.random.default_rng(seed)
    Xq = rng.normal(size=(N, P))
    return [SiteSummary(trial=f"T{k}", n=100, learner="ols", feature_names=COLS,
                        X_query=Xq, ite=rng.normal(size=N), var=rng.uniform(0.1, 1, N),
                        variance="aux-ols") for k in range(K)], Xq


def test_weights_are_scale_invariant():
    sums, Xq = _summaries()
    base = WeightedITEPooler().fit(sums).predict(Xq)
    for c in (1e-6, 3.0, 1e5):
        scaled = [SiteSummary(**{**s.__dict__, "var": s.var * c}) for s in sums]
        out = WeightedITEPooler().fit(scaled).predict(Xq)
        np.testing.assert_allclose(out.ite, base.ite, rtol=1e-12)
        np.testing.assert_allclose(out.weights, base.weights, rtol=1e-12)
        np.testing.assert_allclose(out.se, base.se * np.sqrt(c), rtol=1e-12)


def test_random_effects_weights_give_prediction_interval():
    sums, Xq = _summaries(K=6)
    fe = WeightedITEPooler().fit(sums).predict(Xq)
    re = WeightedITEPooler(heterogeneity="DL").fit(sums).predict(Xq)
    assert fe.pi_low is None and re.pi_low is not None
    assert np.all(re.tau2 >= 0)
    assert np.all(re.pi_high - re.pi_low >= re.ci_high - re.ci_low - 1e-12)
    # per profile DL by hand
    Y = np.column_stack([s.ite for s in sums])
    V = np.column_stack([s.var for s in sums])
    W = 1 / V
    mu = (W * Y).sum(1) / W.sum(1)
    Q = (W * (Y - mu[:, None]) ** 2).sum(1)
    c = W.sum(1) - (W**2).sum(1) / W.sum(1)
    tau2 = np.maximum(0, (Q - (Y.shape[1] - 1)) / c)
    np.testing.assert_allclose(re.tau2, tau2, rtol=1e-10, atol=1e-14)


def test_fixed_mvma_equals_closed_form_gls():
    df = _multi(K=5)
    model = _fit(df, "ols", "mvma", pooler_options={"method": "fixed"})
    sums = model.site_summaries()
    Winv = [np.linalg.inv(s.cov) for s in sums]
    V = np.linalg.inv(sum(Winv))
    theta = V @ sum(w @ s.coef for w, s in zip(Winv, sums, strict=True))
    np.testing.assert_allclose(model.pooler_.coef_, theta, rtol=1e-10)
    np.testing.assert_allclose(model.pooler_.vcov_, V, rtol=1e-10)


def test_infeasible_pair_lists_feasible_ones():
    with pytest.raises(InfeasibleMethodError) as exc:
        TwoStageITE("xgboost", "mvma")
    msg = str(exc.value)
    assert "ols+mvma" in msg and "weighted-aux-ols" in msg
    assert ("xgboost", "mvma") not in feasible_pairs()
    assert ("bayes-lasso", "weighted-bootstrap") not in feasible_pairs()
    for pair in [("ols", "mvma"), ("bayes-lm", "bayes-mvma"), ("bayes-lasso", "posterior-mix"),
                 ("xgboost", "weighted-bootstrap"), ("sklearn-t", "weighted-aux-ols")]:
        assert pair in feasible_pairs()


@pytest.mark.parametrize("learner,pooler,fmt", [
    ("ols", "mvma", "json"),
    ("ols", "weighted-bootstrap", "npz"),
    ("lasso", "weighted-aux-ols", "json"),
    ("bayes-lm", "posterior-mix", "npz"),
    ("bayes-lm", "bayes-mvma", "json"),
])
def test_federated_run_equals_in_memory(tmp_path, learner, pooler, fmt):
    df = _multi(K=4)
    X_new = _one_trial(n=40, seed=99)[COLS]
    model = _fit(df, learner, pooler, n_boot=15, random_state=7)
    mem = model.predict(X_new)
    # each site runs stage 1 alone, with the seed the in-memory run gives it
    seeds = trial_seeds(7, 4)
    paths = []
    for k, tr in enumerate(model.trials_):
        d = df[df["trial"] == tr]
        s = fit_site(d[COLS], d["t"], d["y"], trial=tr, learner=learner, pooler=pooler,
                     X_query=X_new if pooler.startswith("weighted") else None, n_boot=15,
                     random_state=seeds[k], feature_names=COLS)
        paths.append(s.save(tmp_path / f"site{k}.{fmt}"))
        text = paths[-1].read_bytes()
        assert b"pickle" not in text
    # the Bayesian pooler is seeded with the model's random_state
    popt = {"random_state": 7} if pooler == "bayes-mvma" else {}
    fed = pool_sites(paths, pooler, X_new=X_new, **popt)
    pd.testing.assert_frame_equal(fed, mem, check_exact=True)
    # the model's own export gives the same files' content
    exported = model.export_sites(tmp_path / "exp", X_new=X_new, fmt=fmt)
    pd.testing.assert_frame_equal(pool_sites(exported, pooler, X_new=X_new, **popt), mem,
                                  check_exact=True)


def test_summary_file_has_no_patient_rows(tmp_path):
    df = _multi(K=3)
    model = _fit(df, "ols", "weighted-aux-ols")
    X_new = df[COLS].iloc[:5]
    path = model.export_sites(tmp_path, X_new=X_new)[0]
    s = SiteSummary.load(path)
    assert s.X_query.shape == (5, P) and s.coef is None
    with pytest.raises(DataError, match="same X_new"):
        other = SiteSummary(**{**s.__dict__, "trial": "other", "X_query": s.X_query + 1})
        WeightedITEPooler().fit([s, other])


@pytest.mark.slow
def test_bayes_mvma_full_psi_runs():
    import warnings

    df = _multi(K=5)
    model = _fit(df, "bayes-lm", "posterior-mix")
    sums = model.site_summaries()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = BayesMVMAPooler(random="full", num_warmup=150, num_samples=150, num_chains=1,
                            random_state=0).fit(sums)
    out = p.predict(df[COLS].to_numpy()[:10])
    assert np.all(out.pi_high - out.pi_low > out.ci_high - out.ci_low)
    assert p.Psi_.shape == (P + 1, P + 1)


@pytest.mark.parametrize("method,structure", [("ml", "unstructured"), ("mm", "unstructured"),
                                              ("reml", "diagonal"), ("reml", "identity")])
def test_mvma_options(method, structure):
    import warnings

    df = _multi(K=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = _fit(df, "ols", "mvma",
                     pooler_options={"method": method, "structure": structure})
    pred = model.predict(df[COLS].iloc[:20])
    Psi = model.pooler_.Psi_
    assert np.all(np.linalg.eigvalsh(Psi) > -1e-10)
    if structure != "unstructured":
        assert np.allclose(Psi, np.diag(np.diag(Psi)))
    assert np.all(pred["pi_high"] - pred["pi_low"] >= pred["ci_high"] - pred["ci_low"] - 1e-12)
    assert "tau2" in model.pooler_.coef_frame()


def test_posterior_mix_weights_and_mixture_interval():
    from ipdma.ite import PosteriorMixPooler

    rng = np.random.default_rng(0)
    q = P + 1
    sums = []
    for k, (m, s) in enumerate(((0.0, 1.0), (3.0, 2.0))):
        draws = rng.normal(size=(4000, q)) * 1e-6
        draws[:, 0] = rng.normal(m, s, 4000)
        mean, cov = draws.mean(0), np.cov(draws, rowvar=False)
        sums.append(SiteSummary(trial=f"T{k}", n=100, learner="bayes-lm", feature_names=COLS,
                                post_mean=mean, post_cov=cov, post_draws=draws))
    out = PosteriorMixPooler(max_draws=4000).fit(sums).predict(np.zeros((1, P)))
    v = np.array([np.var(s.post_draws[:, 0], ddof=1) for s in sums])
    m = np.array([s.post_mean[0] for s in sums])
    w = (1 / v) / (1 / v).sum()
    assert out.ite[0] == pytest.approx((w * m).sum(), rel=1e-10)
    # mixture quantiles against a large direct sample of the mixture
    pick = rng.random(400000) < w[0]
    mix = np.where(pick, rng.normal(0, 1, 400000), rng.normal(3, 2, 400000))
    lo, hi = np.quantile(mix, [0.025, 0.975])
    assert out.ci_low[0] == pytest.approx(lo, abs=0.15)
    assert out.ci_high[0] == pytest.approx(hi, abs=0.15)
