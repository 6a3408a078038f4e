"""Pooler ``weighted-forest``: (b) weighted by the causal forest's own ITE variance.

The EconML tests skip when econml is not installed (``pip install ipdma[causal-forest]``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from ipdma.cli import main
from ipdma.datasets import make_ite_binary, make_ite_continuous
from ipdma.errors import InfeasibleMethodError
from ipdma.ite import (
    TwoStageITE,
    WeightedForestPooler,
    check_pair,
    feasible_pairs,
    fit_methods,
    get_learner,
    get_pooler,
)

FOREST = {"n_estimators": 40}


@pytest.fixture(scope="module")
def cont():
    return make_ite_continuous(scenario=5, random_state=3, n_trials=4, n_test_per_trial=10)


def test_pooler_registry_and_feasibility():
    p = get_pooler("weighted-forest", heterogeneity="DL")
    assert isinstance(p, WeightedForestPooler)
    assert (p.name, p.variance, p.requires, p.needs, p.heterogeneity) == (
        "weighted-forest", "forest", "ite_var", "predictions", "DL")
    for fam in ("continuous", "binary"):
        pairs = feasible_pairs(fam)
        assert [a for a, b in pairs if b == "weighted-forest"] == ["causal-forest"]
    # only learners with their own ITE variance: the message says what is missing
    with pytest.raises(InfeasibleMethodError, match="its own variance of each predicted ITE"):
        check_pair(get_learner("ols"), p)


def test_cli_refuses_a_learner_without_variance(tmp_path, cont, capsys):
    data = tmp_path / "d.csv"
    cont.data.to_csv(data, index=False)
    rc = main(["ite", str(data), "--trial", "trial", "--treatment", "treatment",
               "--outcome", "y", "--covariates", ",".join(cont.columns["covariates"]),
               "--learner", "ols", "--pooler", "weighted-forest", "--out",
               str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2
    assert "weighted-forest" in err and "causal-forest" in err
    assert "Traceback" not in err


# ---------------------------------------------------------------- with EconML
def _covs(sim):
    return list(sim.columns["covariates"])


def test_weights_are_the_forests_own_variances(cont):
    pytest.importorskip("econml")
    test = cont.test[_covs(cont)]
    fits = fit_methods(cont.ipd(), ["causal-forest+weighted-forest",
                                    "causal-forest+weighted-aux-ols"],
                       learner_options={"causal-forest": FOREST}, random_state=2,
                       X_query=test)
    forest, aux = fits["causal-forest+weighted-forest"], fits["causal-forest+weighted-aux-ols"]
    pf = forest.predict(test)
    # the same forests (shared stage 1): same per-trial ITEs, other weights
    per_trial = [c for c in pf.columns if c.startswith("ite_")]
    assert_frame_equal(pf[per_trial], aux.predict(test)[per_trial])
    X = test.to_numpy(float)
    V = np.column_stack([f.learner.ite_var(X) for f in forest.fits_])
    Y = np.column_stack([f.learner.predict_ite(X) for f in forest.fits_])
    assert np.all(V > 0)
    W = 1 / V
    np.testing.assert_allclose(pf["ite"], (W * Y).sum(1) / W.sum(1), rtol=1e-12)
    np.testing.assert_allclose(pf["se"], np.sqrt(1 / W.sum(1)), rtol=1e-12)
    # the pair on its own gives the numbers of the shared fit (same seed)
    alone = TwoStageITE("causal-forest", "weighted-forest", learner_options=FOREST,
                        random_state=2).fit(cont.ipd(), X_query=test)
    assert_frame_equal(alone.predict(test), pf)
    # site summaries carry the forest variances
    s = forest.site_summaries(test)[0]
    assert s.variance == "forest"
    np.testing.assert_allclose(s.var, V[:, 0], rtol=1e-12)   # EconML: last-ulp noise


def test_random_effects_and_binary_outcome():
    pytest.importorskip("econml")
    sim = make_ite_binary(scenario=5, random_state=4, n_trials=4, n_test_per_trial=10)
    test = sim.test[_covs(sim)]
    m = TwoStageITE("causal-forest", "weighted-forest", learner_options=FOREST,
                    pooler_options={"heterogeneity": "DL"}, random_state=1).fit(sim.ipd())
    pred = m.predict(test)
    assert {"ite", "se", "ci_low", "ci_high", "pi_low", "pi_high", "tau2"} <= set(pred.columns)
    assert np.isfinite(pred[["ite", "se", "pi_low", "pi_high"]].to_numpy()).all()
    assert (pred["ite"].abs() <= 1).all()   # risk differences


def test_cli_weighted_forest(tmp_path, cont):
    pytest.importorskip("econml")
    data, new = tmp_path / "d.csv", tmp_path / "new.csv"
    cont.data.to_csv(data, index=False)
    cont.test[_covs(cont)].to_csv(new, index=False)
    rc = main(["ite", str(data), "--trial", "trial", "--treatment", "treatment",
               "--outcome", "y", "--covariates", ",".join(_covs(cont)), "--learner",
               "causal-forest", "--pooler", "weighted-forest", "--learner-options",
               '{"n_estimators": 40}', "--predict", str(new), "--no-plots", "--seed", "2",
               "--out", str(tmp_path / "o")])
    assert rc == 0
    pred = pd.read_csv(tmp_path / "o" / "predictions.csv")
    ref = TwoStageITE("causal-forest", "weighted-forest", learner_options=FOREST,
                      random_state=2).fit(cont.ipd()).predict(cont.test[_covs(cont)])
    np.testing.assert_allclose(pred["ite"], ref["ite"], rtol=1e-10)
    np.testing.assert_allclose(pred["se"], ref["se"], rtol=1e-10)
