"""Case weights, offsets, weighted strata and glmnet options against our own R
reference ``tests/survival/data/cox_weights`` (R 4.2.2, survival 3.5-3, glmnet 4.1-6;
``make.R`` + ``expected.json``).  Tolerances: Cox rtol 1e-7 (loglik 1e-10),
baselines rtol 1e-8, glmnet (thresh 1e-14) atol 1e-6, lambda sequence rtol 1e-8."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ipdma.survival import CoxPH, coxnet_lambda_max, coxnet_path

HERE = Path(__file__).parent / "data" / "cox_weights"
XS = ["x1", "x2", "x3"]


@pytest.fixture(scope="module")
def ref():
    return json.loads((HERE / "expected.json").read_text())


@pytest.fixture(scope="module")
def d():
    return pd.read_csv(HERE / "data.csv")


def check(m, r):
    np.testing.assert_allclose(m.coef_, r["coef"], rtol=1e-7)
    # with non-integer weights coxph reports the robust sandwich variance by default
    # (and its Wald test uses it); vcov_model = the inverse information (naive.var)
    assert m.robust_ == r["robust"]
    np.testing.assert_allclose(m.vcov_.to_numpy(), r["vcov"], rtol=1e-7)
    np.testing.assert_allclose(m.vcov_model_.to_numpy(), r["vcov_model"], rtol=1e-7)
    np.testing.assert_allclose([m.loglik_null_, m.loglik_], r["loglik"], rtol=1e-10)
    np.testing.assert_allclose(m.tests_.loc[["score", "wald"], "statistic"],
                               [r["score"], r["wald"]], rtol=1e-7)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_weighted_cox(ref, d, ties):
    m = CoxPH(ties=ties).fit(d, "time", "status", XS, weights="w")
    r = ref[f"cox_weights_{ties}"]
    check(m, r)
    if ties == "efron":
        for kind in ("breslow", "efron"):
            np.testing.assert_allclose(m.cumulative_hazard_at([0.5, 1, 1.5, 2], kind)[0],
                                       r[f"H0_{kind}"], rtol=1e-8)


def test_robust_variance_without_weights(ref, d):
    check(CoxPH(robust=True).fit(d, "time", "status", XS), ref["cox_robust_unweighted"])
    assert not CoxPH().fit(d.assign(w=2), "time", "status", XS, weights="w").robust_


def test_offset_and_weighted_strata(ref, d):
    check(CoxPH().fit(d, "time", "status", ["x1", "x2"], offset="off"), ref["cox_offset_efron"])
    check(CoxPH().fit(d, "time", "status", XS, strata="g", weights="w"),
          ref["cox_strata_weights"])


def test_glmnet_weights_elastic_net_penalty_factor(ref, d):
    r = ref["glmnet_weights_enet"]
    B, _, ok = coxnet_path(d[XS].to_numpy(), d["time"], d["status"], r["lambda"], alpha=0.5,
                           penalty_factor=[1, 2, 0.5], weights=d["w"])
    assert ok.all()
    np.testing.assert_allclose(B.T, r["coef"], atol=1e-6)


def test_coxnet_strata_limit_is_stratified_breslow_cox(ref, d):
    """Stratified penalised Cox minimises the stratified Breslow partial likelihood:
    at lambda -> 0 it is coxph(ties = "breslow") + strata.  (glmnet 4.1-6's
    ``stratifySurv`` differs from that coxph fit by ~2e-4 at lambda = 0 on these data --
    kept in expected.json, not used as an oracle; see the README of the case.)"""
    r = ref["cox_strata_breslow"]
    B, _, _ = coxnet_path(d[XS].to_numpy(), d["time"], d["status"], [1e-3, 1e-6, 0.0],
                          strata=d["g"])
    np.testing.assert_allclose(B[-1], r["coef"], rtol=1e-7)
    check(CoxPH(ties="breslow").fit(d, "time", "status", XS, strata="g"), r)


def test_glmnet_default_lambda_sequence(ref, d):
    lam = ref["glmnet_default_lambda"]
    np.testing.assert_allclose(coxnet_lambda_max(d[XS].to_numpy(), d["time"], d["status"]),
                               lam[0], rtol=1e-8)
    _, lams, _ = coxnet_path(d[XS].to_numpy(), d["time"], d["status"], n_lambda=100)
    np.testing.assert_allclose(lams[:len(lam)], lam, rtol=1e-8)
