"""Validation of two-stage ITE on a treatment network: leave-one-trial-out, calibration
for benefit per contrast, compare_methods (public API)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipdma.datasets import make_ite_network
from ipdma.errors import DataWarning, ModelSpecificationError
from ipdma.ite import (
    TwoStageITE,
    calibration_for_benefit,
    compare_methods,
    loto_predictions,
    network_calibration_for_benefit,
    prepare_ite_data,
)

COLS = dict(trial="trial", treatment="treatment", outcome="y",
            covariates=["x1", "x2", "x3", "x4"])


@pytest.fixture(scope="module")
def sim():
    return make_ite_network(random_state=3, n_test=10, n_per_trial=(120, 200))


@pytest.mark.parametrize("pooler,opts,atol", [("mvma", {"method": "fixed"}, 1e-10),
                                              ("mvma", {"method": "reml"}, 1e-7),
                                              ("weighted-aux-ols", {}, 1e-10)])
def test_loto_equals_refit_without_the_trial(sim, pooler, opts, atol):
    """Each fold = a fresh fit on the other trials, predicted at the held-out patients."""
    df = sim.data
    model = TwoStageITE("ols", pooler, pooler_options=opts, random_state=0)
    oof = loto_predictions(df, model, **COLS)
    assert len(oof) == len(df) and (oof["treatment"].to_numpy() == df["treatment"]).all()
    pairs = [c[4:] for c in oof.columns if c.startswith("ite_")]
    assert pairs == ["B_vs_A", "C_vs_A", "C_vs_B", "D_vs_A", "D_vs_B", "D_vs_C"]
    for tr in (1, 7, 10):
        held = (df["trial"] == tr).to_numpy()
        ref = TwoStageITE("ols", pooler, pooler_options=opts, random_state=0).fit(
            df[~held], **COLS, reference="A").predict_pairs(df.loc[held, COLS["covariates"]])
        for p in pairs:
            np.testing.assert_allclose(oof.loc[held, f"ite_{p}"], ref[f"ite_{p}"],
                                       atol=atol, rtol=0)
            np.testing.assert_allclose(oof.loc[held, f"se_{p}"], ref[f"se_{p}"],
                                       atol=atol, rtol=0)


def test_loto_fold_that_loses_a_treatment_warns_and_leaves_nan():
    sim = make_ite_network(designs=[("A", "B", "C"), ("A", "B"), ("A", "C"), ("B", "C"),
                                    ("A", "D")], random_state=2, n_test=5)
    with pytest.warns(DataWarning, match=r"trial '5'.*D_vs_A"):
        oof = loto_predictions(sim.ipd(), "ols+mvma", random_state=0)
    held = oof["trial"] == "5"
    assert oof.loc[held, "ite_D_vs_A"].isna().all()
    assert oof.loc[held, "ite_B_vs_A"].notna().all()     # A, B, C still connected
    assert oof.loc[~held].filter(like="ite_").notna().all().all()
    cal = network_calibration_for_benefit(oof)
    assert "D_vs_A" not in cal and "B_vs_A" in cal      # no LOTO prediction for D vs A


def test_calibration_per_contrast_uses_the_trials_that_randomise_it(sim):
    oof = loto_predictions(sim.ipd(), "ols+mvma", random_state=0)
    cal = network_calibration_for_benefit(oof, n_groups=4)
    # C vs B: trials with both B and C (designs 1, 2, 7), arms B and C only, t = 1 for C
    trials = [tr for tr, g in oof.groupby("trial") if {"B", "C"} <= set(g["treatment"])]
    assert sorted(map(int, trials)) == [1, 2, 7]
    m = oof["trial"].isin(trials) & oof["treatment"].isin(["B", "C"])
    ref = calibration_for_benefit(oof.loc[m, "y"], (oof.loc[m, "treatment"] == "C") * 1.0,
                                  oof.loc[m, "ite_C_vs_B"], oof.loc[m, "trial"], n_groups=4)
    assert cal["C_vs_B"]["slope"] == pytest.approx(ref["slope"], rel=1e-12)
    assert cal["C_vs_B"]["n"] == int(m.sum()) and cal["C_vs_B"]["trials"] == 3
    assert cal["overall"]["n"] == sum(v["n"] for k, v in cal.items() if k != "overall")


def test_compare_methods_network_per_contrast_and_overall(sim):
    cmp = compare_methods(sim.ipd(), ["ols+mvma", "ols+weighted-aux-ols"],
                          true_ite=sim.truth, random_state=0)
    assert list(cmp.table.columns) == ["rank", "tau_risk", "tau_risk_diff", "calib_intercept",
                                       "calib_slope", "calib_rmse", "mae", "rmse",
                                       "best_correct"]
    per = cmp.per_contrast
    assert per.index.names == ["method", "contrast"]
    for name in cmp.table.index:
        rows = per.loc[name]
        # overall tau_risk = comparison-weighted mean of the per-contrast values
        ok = rows["n"] > 0
        w = rows.loc[ok, "n"].to_numpy(float)
        assert cmp.table.loc[name, "tau_risk"] == pytest.approx(
            np.average(rows.loc[ok, "tau_risk"], weights=w), rel=1e-12)
        # the LOTO predictions are those of loto_predictions
        oof = cmp.predictions[name]
        again = loto_predictions(sim.ipd(), name, random_state=0)
        pd.testing.assert_frame_equal(oof, again)
        # overall mae/rmse pool the contrasts vs the network reference
        err = np.column_stack([oof[f"ite_{t}_vs_A"] - sim.truth[f"true_ite_{t}_vs_A"]
                               for t in "BCD"]).ravel()
        assert cmp.table.loc[name, "rmse"] == pytest.approx(np.sqrt(np.mean(err ** 2)),
                                                            rel=1e-12)
    # both methods beat chance at picking the best treatment
    assert (cmp.table["best_correct"] > 0.5).all()
    assert "Per contrast" in str(cmp.summary())
    assert set(cmp.contrast_calibration["ols+mvma"]) >= {"B_vs_A", "overall"}


def test_compare_methods_network_ranks_by_best_correct_and_takes_reference(sim):
    cmp = compare_methods(sim.ipd(), ["ols+mvma", "ols+weighted-aux-ols"],
                          true_ite=sim.truth, rank_by="best_correct", reference="C",
                          random_state=0)
    assert cmp.table["best_correct"].is_monotonic_decreasing
    assert cmp.per_contrast.index.get_level_values("contrast")[0] == "A_vs_C"
    base = compare_methods(sim.ipd(), ["ols+mvma"], true_ite=sim.truth, random_state=0)
    # the same best-treatment calls whatever the network reference
    assert cmp.table.loc["ols+mvma", "best_correct"] == \
        pytest.approx(base.table.loc["ols+mvma", "best_correct"], abs=1e-12)


def test_compare_methods_binary_network_needs_risk_differences():
    rng = np.random.default_rng(0)
    df = make_ite_network(random_state=4, n_test=5).data
    df["y"] = (rng.random(len(df)) < 1 / (1 + np.exp(-df["y"] + 1))).astype(int)
    with pytest.raises(ModelSpecificationError, match="risk differences"):
        compare_methods(df, ["logistic+mvma"], **COLS, random_state=0)
    cmp = compare_methods(df, ["logistic+weighted-aux-ols"], **COLS, random_state=0)
    assert "c_for_benefit" in cmp.table.columns
    assert cmp.per_contrast["c_for_benefit"].dropna().between(0, 1).all()


def test_two_arm_steps_name_the_network(sim):
    with pytest.raises(ModelSpecificationError, match=r"4 treatments.*treatment network"):
        prepare_ite_data(sim.ipd())
