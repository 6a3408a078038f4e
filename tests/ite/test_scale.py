"""Bounded memory (bootstrap refits predicted at known query points), default poolers,
Dask scale-out, CLI start-up: the numbers are those of the plain local run."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from ipdma.datasets import make_ite_binary, make_ite_continuous
from ipdma.errors import ModelSpecificationError
from ipdma.ite import (
    PredictedBootstrap,
    TwoStageITE,
    compare_methods,
    default_pooler,
    feasible_pairs,
    fit_methods,
    learner_available,
)

FAST = {
    "xgboost": {"max_depth": (2,), "eta": (0.3,), "nrounds": (20,), "nfold": 3},
    "causal-forest": {"n_estimators": 40},
}
B = 4


@pytest.fixture(scope="module")
def cont():
    return make_ite_continuous(scenario=5, random_state=3, n_test_per_trial=15)


@pytest.fixture(scope="module")
def binary():
    return make_ite_binary(scenario=5, random_state=3, n_test_per_trial=15)


def _boot_pairs(family):
    return [(a, b) for a, b in feasible_pairs(family)
            if b == "weighted-bootstrap" and learner_available(a)]


@pytest.mark.parametrize("learner", [a for a, _ in _boot_pairs("continuous")])
def test_query_points_give_identical_predictions_continuous(cont, learner):
    covs = list(cont.columns["covariates"])
    test = cont.test[covs]
    kw = dict(n_boot=B, random_state=7, learner_options=FAST.get(learner))
    plain = TwoStageITE(learner, "weighted-bootstrap", **kw).fit(cont.ipd())
    lean = TwoStageITE(learner, "weighted-bootstrap", **kw).fit(cont.ipd(), X_query=test)
    assert_frame_equal(lean.predict(test), plain.predict(test))
    # any subset of the query points, in any order
    sub = test.iloc[::-3]
    assert_frame_equal(lean.predict(sub), plain.predict(sub))
    linear = learner in ("ols", "lasso", "ridge", "elasticnet")
    assert isinstance(lean.fits_[0].boot, PredictedBootstrap) is not linear
    if not linear:
        with pytest.raises(ModelSpecificationError, match="not one of the query points"):
            lean.predict(test + 1.0)
        # the summary (trial table) still works without the refits
        assert len(lean.trial_frame()) == len(lean.trials_)


# the fitted-model learners of binary outcomes (the penalised logistic learners refit
# the same way as the logistic one, through ModelBootstrap, but cross-validate: slow)
@pytest.mark.parametrize("learner", [a for a in ("logistic", "xgboost", "sklearn-s")
                                     if learner_available(a)])
def test_query_points_give_identical_predictions_binary(binary, learner):
    covs = list(binary.columns["covariates"])
    test = binary.test[covs]
    for scale in ("rd", "logor") if learner == "logistic" else ("rd",):
        kw = dict(n_boot=B, random_state=7, learner_options=FAST.get(learner), scale=scale)
        plain = TwoStageITE(learner, "weighted-bootstrap", **kw).fit(binary.ipd())
        lean = TwoStageITE(learner, "weighted-bootstrap", **kw).fit(binary.ipd(),
                                                                    X_query=test)
        assert isinstance(lean.fits_[0].boot, PredictedBootstrap)
        assert_frame_equal(lean.predict(test), plain.predict(test))


def test_fit_methods_query_points_identical(cont):
    covs = list(cont.columns["covariates"])
    test = cont.test[covs]
    pairs = ["sklearn-s+weighted-bootstrap", "sklearn-s+weighted-aux-ols",
             "ols+weighted-bootstrap", "ols+mvma"]
    plain = fit_methods(cont.ipd(), pairs, n_boot=B, random_state=2)
    lean = fit_methods(cont.ipd(), pairs, n_boot=B, random_state=2, X_query=test)
    for name in pairs:
        assert_frame_equal(lean[name].predict(test), plain[name].predict(test))


def test_compare_methods_unchanged_by_query_points(cont):
    """compare_methods now predicts the refits at the trials' own patients in the worker;
    its leave-one-trial-out predictions equal those of the kept refits."""
    from ipdma.ite._twostage import prepare_ite_data
    from ipdma.ite._validation import _loto_from_fitted

    d = prepare_ite_data(cont.ipd())
    m = "sklearn-t+weighted-bootstrap"
    cmp = compare_methods(cont.ipd(), [m, "ols+mvma"], n_boot=B, random_state=4)
    plain = fit_methods(d, [m], n_boot=B, random_state=4)[m]
    assert_frame_equal(cmp.predictions[m], _loto_from_fitted(plain, d))


def test_predicted_bootstrap_scale_and_shape_errors():
    pb = PredictedBootstrap(np.zeros((2, 3)), np.ones((5, 2)), scale="rd")
    with pytest.raises(ModelSpecificationError, match="scale"):
        pb.predict_ite(np.zeros((1, 3)), scale="logor")
    with pytest.raises(ModelSpecificationError, match="3-column"):
        pb.predict_ite(np.zeros((1, 4)), scale="rd")
    assert pb.predict_ite(np.zeros(3), scale="rd").shape == (5, 1)


# ------------------------------------------------------------------------ default poolers
@pytest.mark.parametrize(("learner", "pooler"), [
    ("ols", "mvma"), ("logistic", "mvma"), ("lasso", "weighted-aux-ols"),
    ("xgboost", "weighted-aux-ols"), ("sklearn-t", "weighted-aux-ols"),
    ("causal-forest", "weighted-aux-ols"), ("bayes-lm", "bayes-mvma"),
    ("bayes-logistic", "bayes-mvma"), ("logistic-ridge", "weighted-aux-ols")])
def test_default_pooler(learner, pooler):
    assert default_pooler(learner) == pooler
    assert TwoStageITE(learner).pooler_.name == pooler


def test_default_pooler_every_learner_is_feasible():
    for fam in ("continuous", "binary"):
        pairs = set(feasible_pairs(fam))
        for lrn in {a for a, _ in pairs}:
            assert (lrn, default_pooler(lrn, fam)) in pairs


def test_default_pooler_fit_equals_explicit(cont):
    covs = list(cont.columns["covariates"])
    a = TwoStageITE("lasso", random_state=1).fit(cont.ipd()).predict(cont.test[covs])
    b = TwoStageITE("lasso", "weighted-aux-ols", random_state=1).fit(cont.ipd()).predict(
        cont.test[covs])
    assert_frame_equal(a, b)


# ------------------------------------------------------------------------ CLI start-up
def test_cli_import_is_lean():
    code = ("import sys, ipdma.cli, ipdma.cli._ite; "
            "heavy = [m for m in ('matplotlib', 'jax', 'xgboost', 'numpyro', 'arviz', "
            "'dask', 'econml', 'scipy.stats', 'scipy.optimize', 'scipy.special', "
            "'sklearn', 'statsmodels', 'tqdm') if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""


def test_ite_cli_predict_without_plots_needs_no_matplotlib(tmp_path, cont):
    covs = list(cont.columns["covariates"])
    data, new = tmp_path / "d.csv", tmp_path / "new.csv"
    cont.data.to_csv(data, index=False)
    cont.test[covs].to_csv(new, index=False)
    code = ("import sys; from ipdma.cli import main; "
            f"rc = main(['ite', {str(data)!r}, '--trial', 'trial', '--treatment', "
            f"'treatment', '--outcome', 'y', '--covariates', {','.join(covs)!r}, "
            f"'--predict', {str(new)!r}, '--no-plots', '--out', {str(tmp_path / 'o')!r}]); "
            "print('MPL' if 'matplotlib' in sys.modules else 'NOMPL', rc); "
            "print('LOADED', *[m for m in ('scipy.stats', 'scipy.optimize', 'scipy.special', "
            "'scipy.linalg', 'sklearn', 'statsmodels', 'tqdm', 'asyncio') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[-2].split()[-2:] == ["NOMPL", "0"]
    # ols + mvma with --predict needs numpy and pandas only (start-up time)
    assert lines[-1] == "LOADED"
    pred = pd.read_csv(tmp_path / "o" / "predictions.csv")
    assert len(pred) == len(cont.test)


# ------------------------------------------------------------------------ Dask
@pytest.mark.slow
def test_dask_cluster_gives_identical_numbers(cont):
    pytest.importorskip("distributed")
    from ipdma.ite import dask_client

    covs = list(cont.columns["covariates"])
    test = cont.test[covs]
    pairs = ["ols+mvma", "sklearn-s+weighted-bootstrap", "lasso+weighted-aux-ols"]
    local = fit_methods(cont.ipd(), pairs, n_boot=B, random_state=5, X_query=test)
    with dask_client(dask_local=2) as client:
        remote = fit_methods(cont.ipd(), pairs, n_boot=B, random_state=5, X_query=test,
                             client=client)
        one = TwoStageITE("ols", random_state=5).fit(cont.ipd(), client=client)
    for name in pairs:
        assert_frame_equal(remote[name].predict(test), local[name].predict(test))
    assert_frame_equal(one.predict(test), local["ols+mvma"].predict(test))


def test_dask_client_argument_errors(cont):
    with pytest.raises(ModelSpecificationError, match="Client"):
        TwoStageITE("ols").fit(cont.ipd(), client=object())
    from ipdma.ite import dask_client

    with pytest.raises(ModelSpecificationError, match="not both"):
        with dask_client("tcp://127.0.0.1:1", 1):
            pass
