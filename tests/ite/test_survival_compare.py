"""compare_methods and its censoring-aware scores for time-to-event outcomes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipdma.datasets import make_survival_trials
from ipdma.errors import ModelSpecificationError
from ipdma.ite import (
    c_for_benefit,
    compare_methods,
    survival_c_for_benefit,
    survival_calibration_for_benefit,
)


@pytest.fixture(scope="module")
def sim():
    return make_survival_trials(random_state=11, n_trials=5, n_test_trials=0)


def test_c_for_benefit_without_censoring_equals_binary_rule():
    """Without censoring and with the outcome 'event before s' for all patients at a
    common time, the survival pairs' order is the binary rule's; in general with no
    censoring every pair is usable and C matches a direct count."""
    rng = np.random.default_rng(3)
    n = 300
    x, t = rng.normal(size=n), rng.integers(0, 2, n)
    T = rng.exponential(np.exp(-(0.3 * x - t * x)))
    res = survival_c_for_benefit(T, np.ones(n), t, x)
    assert res.n_pairs == min(t.sum(), n - t.sum()) and not res.pairs["obs_benefit"].isna().any()
    p = res.pairs
    obs = np.sign(p["time_treated"] - p["time_control"]).to_numpy()
    np.testing.assert_array_equal(p["obs_benefit"], obs)
    # same matching as the binary C-for-benefit
    yb = (T < np.median(T)).astype(float)
    pb = c_for_benefit(yb, t, x).pairs
    np.testing.assert_array_equal(pb["id_treated"], p["id_treated"])
    # direct O(P^2) count of the concordance
    pr, ob = p["pred_benefit"].to_numpy(), p["obs_benefit"].to_numpy()
    i, j = np.triu_indices(len(pr), 1)
    use = ob[i] != ob[j]
    hi_i = ob[i] > ob[j]
    conc = np.where(hi_i, pr[i] > pr[j], pr[j] > pr[i])[use].sum()
    tie = (pr[i] == pr[j])[use].sum()
    assert res.usable == use.sum()
    assert res.c == pytest.approx((conc + tie / 2) / use.sum(), abs=1e-12)


def test_censored_pairs_are_left_out():
    tt = np.array([2.0, 1.0, 3.0, 2.0, 2.0])
    et = np.array([1.0, 0.0, 0.0, 1.0, 0.0])
    tc = np.array([3.0, 2.0, 1.0, 2.0, 2.0])
    ec = np.array([0.0, 1.0, 1.0, 1.0, 1.0])
    from ipdma.ite._survival_validation import _pair_benefit

    got = _pair_benefit(tt, et, tc, ec)
    # treated died first; treated censored first (hidden); control died first;
    # both died together; treated censored at the control's death time (outlived it)
    np.testing.assert_array_equal(got, [-1.0, np.nan, 1.0, 0.0, 1.0])


def test_true_ites_score_better_than_noise(sim):
    d = sim.data
    tr = sim.truth["ite_survdiff"].to_numpy()
    noise = np.random.default_rng(0).permutation(tr)
    args = (d["time"], d["event"], d["treatment"])
    c_true = survival_c_for_benefit(*args, tr, trial=d["trial"]).c
    c_noise = survival_c_for_benefit(*args, noise, trial=d["trial"]).c
    assert c_true > 0.55 and abs(c_noise - 0.5) < 0.05
    # 5 groups of ~400 patients: the KM differences carry sampling error ~0.04, so the
    # true ITEs' line is near (0, 1) and the permuted ones' slope near 0
    cal = survival_calibration_for_benefit(*args, tr, d["trial"], horizon=2.0)
    assert abs(cal["slope"] - 1) < 0.5 and abs(cal["intercept"]) < 0.1
    cal_n = survival_calibration_for_benefit(*args, noise, d["trial"], horizon=2.0)
    assert abs(cal_n["slope"]) < 0.5 * cal["slope"]
    cal_r = survival_calibration_for_benefit(*args, sim.truth["ite_rmstdiff"], d["trial"],
                                             scale="rmstdiff", tau=3.0)
    assert abs(cal_r["slope"] - 1) < 0.5
    with pytest.raises(ModelSpecificationError, match="survdiff"):
        survival_calibration_for_benefit(*args, tr, d["trial"], scale="loghr")


def test_compare_methods_survival(sim):
    cmp = compare_methods(sim.ipd(), ["cox+mvma", "cox+weighted-aux-ols"], horizon=2.0,
                          true_ite=sim.truth["ite_survdiff"], random_state=0)
    tab = cmp.to_frame()
    assert cmp.rank_by == "c_for_benefit"
    assert list(tab.columns) == ["rank", "c_for_benefit", "calib_intercept", "calib_slope",
                                 "calib_rmse", "mae", "rmse"]
    assert tab["c_for_benefit"].is_monotonic_decreasing
    assert (tab["c_for_benefit"] > 0.5).all() and (tab["rmse"] < 0.15).all()
    pred = cmp.predictions["cox+mvma"]
    assert {"trial", "t", "time", "event", "ite", "se"} <= set(pred.columns)
    assert not pred["ite"].isna().any()
    # the LOTO prediction of trial 1 equals a fit on the other trials
    from ipdma.ite import TwoStageITE

    ipd = sim.ipd()
    others = [tr for tr in ipd.trials if str(tr) != "1"]
    held = np.asarray(pred["trial"]).astype(str) == "1"
    m = TwoStageITE("cox", "mvma", horizon=2.0).fit(ipd.subset(trials=others))
    p1 = m.predict(sim.data.loc[sim.data["trial"] == 1, ["x1", "x2", "x3", "x4"]])
    np.testing.assert_allclose(pred.loc[held, "ite"], p1["ite"], rtol=1e-8)
    r = compare_methods(sim.ipd(), ["cox+mvma"], scale="loghr", random_state=0)
    assert np.isnan(r.table["calib_slope"].iloc[0]) and r.table["c_for_benefit"].iloc[0] > 0.5
    with pytest.raises(ModelSpecificationError, match="rank_by"):
        compare_methods(sim.ipd(), ["cox+mvma"], horizon=2.0, rank_by="tau_risk")
    assert isinstance(cmp.summary().tables[""], pd.DataFrame)


def test_cli_compare_time_to_event(sim, tmp_path, capsys):
    from ipdma.cli import main

    f = tmp_path / "s.csv"
    sim.data.to_csv(f, index=False)
    rc = main(["ite", str(f), "--trial", "trial", "--treatment", "treatment", "--covariates",
               "x1,x2,x3,x4", "--time", "time", "--event", "event", "--horizon", "2",
               "--compare", "--compare-methods", "cox+mvma,weibull+mvma", "--no-plots",
               "--out", str(tmp_path / "out")])
    assert rc == 0
    tab = pd.read_csv(tmp_path / "out" / "comparison.csv", index_col=0)
    assert set(tab.index) == {"cox+mvma", "weibull+mvma"} and "c_for_benefit" in tab
    assert "Kaplan-Meier" in capsys.readouterr().out
