"""coxnet_path against glmnet(family = "cox") default paths: ``tests/survival/data/
coxnet_glmnet`` (make.R: R 4.2, glmnet 4.1-6).  With ``thresh=`` ipdma runs glmnet's own
iterations, so lambdas (rtol 1e-12), path length (early stop, exact) and coefficients
(atol 1e-9 at glmnet's default thresh 1e-7, where glmnet's convergence error is ~2e-4)
are glmnet's; the default exact solver is within glmnet's convergence error of the
thresh = 1e-14 fit (atol 1e-6) and of the thresh=1e-14 iterations (atol 5e-8)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ipdma.survival import coxnet_lambda_max, coxnet_path

DATA = Path(__file__).parent / "data" / "coxnet_glmnet"
XS = ["x1", "x2", "x3", "x4", "x5"]


@pytest.fixture(scope="module")
def ref():
    return json.loads((DATA / "expected.json").read_text())


@pytest.fixture(scope="module")
def d():
    return pd.read_csv(DATA / "control.csv")


def _kw(ref, name):
    a = dict(ref[name]["args"])
    kw = {}
    if "alpha" in a:
        kw["alpha"] = a["alpha"]
    if "penalty.factor" in a:
        kw["penalty_factor"] = a["penalty.factor"]
    if name == "weights":
        kw["weights"] = np.asarray(ref["weights_used"])
    return kw, a.get("thresh", 1e-7)


CASES = ["default", "thresh14", "enet_pf", "weights", "unpen_first", "ridge_pf"]


@pytest.mark.parametrize("name", CASES)
def test_glmnet_iterations_reproduce_glmnet(ref, d, name):
    kw, thresh = _kw(ref, name)
    r = ref[name]
    B, lam, ok = coxnet_path(d[XS].to_numpy(), d["time"], d["status"], thresh=thresh, **kw)
    assert ok.all()
    assert len(lam) == len(r["lambda"])                    # glmnet's early stop
    np.testing.assert_allclose(lam, r["lambda"], rtol=1e-12)
    np.testing.assert_allclose(B.T, r["coef"], atol=1e-9, rtol=0)
    np.testing.assert_array_equal(B.T == 0, np.asarray(r["coef"]) == 0)


@pytest.mark.parametrize("name", ["thresh14", "enet_pf", "unpen_first", "weights"])
def test_exact_path_within_glmnet_convergence_error(ref, d, name):
    kw, thresh = _kw(ref, name)
    r = ref[name]
    X = d[XS].to_numpy()
    B, lam, ok = coxnet_path(X, d["time"], d["status"], **kw)      # exact minimisers
    assert ok.all()
    L = len(r["lambda"])
    # with penalty-free columns glmnet's lambda_max is taken at its thresh-converged fit
    # of those columns, ours at their exact fit
    unpen = min(kw.get("penalty_factor", [1])) == 0
    np.testing.assert_allclose(lam[:L], r["lambda"], rtol=1e-5 if unpen else 1e-12)
    if thresh < 1e-10:
        assert len(lam) == L
        np.testing.assert_allclose(B.T, r["coef"], atol=1e-6)
    # glmnet's iterations driven to thresh 1e-14 meet the exact minimisers up to their
    # remaining convergence error (~1e-8, as glmnet's own)
    B14, _, _ = coxnet_path(X, d["time"], d["status"], lam, thresh=1e-14, **kw)
    np.testing.assert_allclose(B14, B, atol=5e-8)


def test_lambda_max_fits_unpenalised_columns_first(ref, d):
    kw, _ = _kw(ref, "unpen_first")
    lmax = coxnet_lambda_max(d[XS].to_numpy(), d["time"], d["status"], **kw)
    # glmnet reports its first (infinite) lambda as exp(2 log l2 - log l3) = lambda_max,
    # scored at its fit of x1, x2 converged to thresh 1e-7 (ours: the exact fit); at beta = 0
    # (the previous rule) it would be far off
    np.testing.assert_allclose(lmax, ref["unpen_first"]["lambda"][0], rtol=1e-5)
    # ridge: glmnet scores at beta = 0 (its strong rule admits every column at once)
    kw0, _ = _kw(ref, "ridge_pf")
    l0 = coxnet_lambda_max(d[XS].to_numpy(), d["time"], d["status"], **kw0)
    np.testing.assert_allclose(l0, ref["ridge_pf"]["lambda"][0], rtol=1e-12)


def test_user_lambdas_in_any_order(ref, d):
    r = ref["default"]
    lam = np.asarray(r["lambda"])
    X = d[XS].to_numpy()
    perm = np.random.default_rng(1).permutation(len(lam))
    B, out, _ = coxnet_path(X, d["time"], d["status"], lam[perm], thresh=1e-7)
    np.testing.assert_array_equal(out, lam[perm])
    # the user's lambdas are solved in decreasing order (as glmnet sorts them); with
    # lambda = glmnet's sequence the first step differs from glmnet's infinite lambda only
    # inside the convergence threshold
    np.testing.assert_allclose(B, np.asarray(r["coef"]).T[perm], atol=1e-5)


def test_all_censored_is_a_named_error(d):
    from ipdma.errors import OutcomeError

    with pytest.raises(OutcomeError, match="at least one event"):
        coxnet_path(d[XS].to_numpy(), d["time"], np.zeros(len(d)), thresh=1e-7)


@pytest.mark.parametrize("thresh", [None, 1e-7])
def test_constant_column_stays_zero_and_strata_weights_agree(d, thresh):
    X = d[XS].to_numpy().copy()
    X[:, 2] = 3.0
    B, lam, ok = coxnet_path(X, d["time"], d["status"], thresh=thresh)
    assert ok.all() and np.all(B[:, 2] == 0)
    # stratified and weighted paths: glmnet's iterations at 1e-14 meet the exact solver
    w = 0.5 + (np.arange(len(d)) % 3)
    Be, lam, _ = coxnet_path(X, d["time"], d["status"], strata=d["trial"], weights=w)
    B14, _, _ = coxnet_path(X, d["time"], d["status"], lam, strata=d["trial"], weights=w,
                            thresh=1e-14)
    np.testing.assert_allclose(B14, Be, atol=5e-7)
