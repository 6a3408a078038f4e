"""Outcome validation (named errors), Kaplan-Meier, reverse-KM follow-up,
concordance against a brute-force pair count, calibration helpers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipdma.errors import ColumnNotFoundError, DataError, MissingDataError, OutcomeError
from ipdma.survival import (
    SurvivalOutcome,
    calibration_at,
    check_horizon,
    concordance,
    kaplan_meier,
    median_followup,
    survival_outcome,
)


@pytest.fixture
def df():
    return pd.DataFrame({"t": [1.0, 2.5, 0.5, 4.0, 3.0, 2.0], "d": [1, 0, 1, 0, 1, 1],
                         "trial": list("AABBCC"), "arm": ["P", "D"] * 3})


def test_negative_or_zero_times(df):
    with pytest.raises(OutcomeError, match="zero or negative"):
        survival_outcome(df.assign(t=[1.0, 0.0, 0.5, 4.0, 3.0, 2.0]), "t", "d")
    with pytest.raises(OutcomeError, match=r"'t' has 1 zero or negative"):
        survival_outcome(df.assign(t=[1.0, -1.0, 0.5, 4.0, 3.0, 2.0]), "t", "d")


def test_missing_and_nonfinite_times(df):
    with pytest.raises(MissingDataError, match="'t' has 1 missing"):
        survival_outcome(df.assign(t=[1.0, np.nan, 0.5, 4.0, 3.0, 2.0]), "t", "d")
    with pytest.raises(OutcomeError, match="non-finite"):
        survival_outcome(df.assign(t=[1.0, np.inf, 0.5, 4.0, 3.0, 2.0]), "t", "d")
    with pytest.raises(OutcomeError, match="numeric"):
        survival_outcome(df.assign(t=list("abcdef")), "t", "d")
    with pytest.raises(ColumnNotFoundError, match="Did you mean 't'"):
        survival_outcome(df, "T", "d")


def test_event_coding(df):
    with pytest.raises(OutcomeError, match="0 \\(censored\\) / 1"):
        survival_outcome(df.assign(d=[1, 2, 1, 2, 1, 1]), "t", "d")
    with pytest.raises(MissingDataError, match="event column 'd'"):
        survival_outcome(df.assign(d=[1, None, 1, 0, 1, 1]), "t", "d")
    y = survival_outcome(df.assign(d=["dead", "alive", "dead", "alive", "dead", "dead"]), "t", "d")
    assert y.event.tolist() == [1, 0, 1, 0, 1, 1]
    assert y.event_coding == {"alive": 0, "dead": 1}
    y = survival_outcome(df.assign(d=["relapse", "censored"] * 3), "t", "d")
    assert y.event.tolist() == [1, 0] * 3
    with pytest.raises(OutcomeError, match="cannot tell"):
        survival_outcome(df.assign(d=["a", "b"] * 3), "t", "d")
    y = survival_outcome(df.assign(d=["a", "b"] * 3), "t", "d", event_label="b")
    assert y.event.tolist() == [0, 1] * 3
    with pytest.raises(OutcomeError, match=r"two values"):
        survival_outcome(df.assign(d=["x", "y", "z"] * 2), "t", "d")
    y = survival_outcome(df.assign(d=df.d.astype(bool)), "t", "d")
    assert y.n_events == 4


def test_trial_or_arm_without_events(df):
    with pytest.raises(OutcomeError, match="no events in trial 'B'"):
        survival_outcome(df.assign(d=[1, 0, 0, 0, 1, 1]), "t", "d", trial="trial")
    with pytest.raises(OutcomeError, match="trial 'A' arm 'D'"):
        survival_outcome(df, "t", "d", trial="trial", treatment="arm")
    with pytest.raises(OutcomeError, match="all censored"):
        survival_outcome(df.assign(d=0), "t", "d")


def test_horizon_beyond_follow_up(df):
    y = survival_outcome(df, "t", "d")
    check_horizon(y, 2.0, groups=df.trial)
    # trial A: last follow-up 2.5 is a censoring -> every patient without an event is
    # censored before 2.8
    with pytest.raises(DataError, match=r"every patient of trial 'A' without an event is "
                                       r"censored before the horizon 2\.8"):
        check_horizon(y, 2.8, groups=df.trial)
    # trial C: last follow-up 3.0 is an event -> beyond the last follow-up
    c = (df.trial == "C").to_numpy()
    with pytest.raises(DataError, match="beyond the last follow-up of trial 'C' \\(3\\)"):
        check_horizon(y.subset(c), 3.5, groups=df.trial[c])
    check_horizon(y, 10.0, groups=df.trial, extrapolate=True)
    with pytest.raises(DataError, match="positive"):
        check_horizon(y, -1.0)


def test_from_arrays_and_subset():
    y = SurvivalOutcome.from_arrays([1.0, 2.0, 3.0], [True, False, True])
    assert y.subset(np.array([True, False, True])).n_events == 2
    with pytest.raises(DataError, match="time has 3 values"):
        SurvivalOutcome.from_arrays([1.0, 2.0, 3.0], [1, 0])


def brute_km(t, e, at):
    s = 1.0
    var = 0.0
    for u in np.unique(t[(e == 1) & (t <= at)]):
        n = np.sum(t >= u)
        d = np.sum((t == u) & (e == 1))
        s *= 1 - d / n
        var += d / (n * (n - d)) if n > d else np.inf
    return s, s * np.sqrt(var)


def test_kaplan_meier_vs_brute_force():
    rng = np.random.default_rng(5)
    t = np.round(rng.exponential(size=200), 1) + 0.1
    e = (rng.uniform(size=200) < 0.7).astype(float)
    km = kaplan_meier(t, e)
    for at in (0.3, 0.75, 1.5, 2.0):
        s, se = brute_km(t, e, at)
        row = km.at(at).iloc[0]
        assert row["surv"] == pytest.approx(s, rel=1e-12)
        assert row["std_err"] == pytest.approx(se, rel=1e-10)
        assert row["n_risk"] == np.sum(t >= at)
    assert km.n_risk[0] == 200
    km.plot()
    assert "Kaplan" in str(km.summary())


def test_median_followup_reverse_km():
    t = np.array([1, 2, 3, 4, 5, 6.0])
    e = np.array([1, 0, 1, 0, 0, 1.0])
    # reverse KM: censorings are the events
    km = kaplan_meier(t, 1 - e)
    assert median_followup(t, e) == km.median()
    assert km.median() == 5.0


def brute_concordance(t, e, x):
    conc = disc = tx = ty = 0
    n = len(t)
    for i in range(n):
        for j in range(n):
            if i == j or e[i] != 1:
                continue
            if t[j] > t[i] or (t[j] == t[i] and e[j] == 0):
                if x[i] > x[j]:
                    conc += 1
                elif x[i] < x[j]:
                    disc += 1
                else:
                    tx += 1
            elif t[j] == t[i] and e[j] == 1 and j > i:
                ty += 1
    return conc, disc, tx, ty


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_concordance_pairs_vs_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = 150
    t = np.round(rng.exponential(size=n), 1) + 0.1
    e = (rng.uniform(size=n) < 0.6).astype(float)
    x = np.round(rng.normal(size=n), 1)          # ties in the score too
    r = concordance(t, e, x)
    c, d, tx, ty = brute_concordance(t, e, x)
    assert (r.concordant, r.discordant, r.tied_x) == (c, d, tx)
    assert r.tied_y + r.tied_xy == ty
    assert r.c_index == pytest.approx((c + tx / 2) / (c + d + tx), rel=1e-14)
    # IJ variance: numerical derivative of C with respect to a case weight
    eps = 1e-6

    def c_weighted(w):
        cw = dw = tw = 0.0
        for i in range(n):
            if e[i] != 1:
                continue
            comp = (t > t[i]) | ((t == t[i]) & (e == 0))
            cw += w[i] * np.sum(w[comp] * (x[comp] < x[i]))
            dw += w[i] * np.sum(w[comp] * (x[comp] > x[i]))
            tw += w[i] * np.sum(w[comp] * (x[comp] == x[i]))
        return (cw + tw / 2) / (cw + dw + tw)

    for k in (0, 7, 42):
        w = np.ones(n)
        w[k] += eps
        num = (c_weighted(w) - r.c_index) / eps
        assert r.influence[k] == pytest.approx(num, abs=1e-6)


def test_calibration_groups_and_errors():
    rng = np.random.default_rng(0)
    s = rng.uniform(0.2, 0.9, 300)
    t = rng.exponential(size=300) + 0.05
    tab = calibration_at(t, np.ones(300), s, 0.5, n_groups=5)
    assert tab["n"].sum() == 300
    assert (np.diff(tab["mean_pred"]) < 0).all()          # group 1 = lowest risk
    from ipdma.errors import ModelSpecificationError

    with pytest.raises(ModelSpecificationError, match="fewer groups"):
        calibration_at(t, np.ones(300), np.full(300, 0.5), 0.5)
