"""IPD + aggregate data in the risk-based NMR (crossnma's IPD + AD model) against the
reference case nmr_crossnma_ms: glm on IPD + AD expanded to 0/1 rows (rtol 1e-8; SEs
rtol 5e-5 as the IPD-only tests), glmer at the tau = 0 boundary (fixed effects atol
1e-5), and the aggregate route equals the explicit expansion in both engines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipdma.errors import BoundaryWarning, DataError, ModelSpecificationError
from ipdma.nmr import RiskNMR

KW = dict(trial="id", treatment="treat", outcome="relapse")


@pytest.fixture
def cn(ref_case):
    case = ref_case("nmr_crossnma_ms")
    ipd = case.csv("crossnma_ipddata.csv")
    std = case.csv("crossnma_stddata.csv").assign(id=lambda d: "AD" + d["id"].astype(str))
    return case, ipd, std


def expand(ipd, std, age=None):
    reps = np.concatenate([[r, n - r] for r, n in zip(std["relapse"], std["n"])])
    ad = pd.DataFrame({
        "id": np.repeat(np.repeat(std["id"].to_numpy(), 2), reps),
        "treat": np.repeat(np.repeat(std["treat"].to_numpy(), 2), reps),
        "relapse": np.repeat(np.tile([1, 0], len(std)), reps)})
    cols = ["id", "treat", "relapse"] + (["age"] if age is not None else [])
    if age is not None:
        ad["age"] = age
    return pd.concat([ipd[cols].astype({"id": str}), ad], ignore_index=True)


def test_common_effect_ipd_ad(cn):
    case, ipd, std = cn
    exp = case.expected["glm_FE_ipd_ad"]
    res = RiskNMR(engine="ml", reference="A").fit(ipd, risk=None, aggregate=std,
                                                  aggregate_events="relapse", **KW)
    assert res.trials == ["1", "2", "3", "4", "AD1", "AD2"]
    assert res.design.ad_trials == ["AD1", "AD2"]
    assert exp["coef_names"][6:] == ["treatB", "treatC", "treatD"]
    np.testing.assert_allclose(res.params["estimate"], exp["coef"], rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(res.params["se"], exp["se"], rtol=5e-5)
    assert res.loglik == pytest.approx(exp["logLik"], abs=1e-7)


def test_random_effects_ipd_ad_boundary(cn):
    case, ipd, std = cn
    exp = case.expected["glmer_RE_ipd_ad_laplace"]
    with pytest.warns(BoundaryWarning):
        res = RiskNMR(engine="ml", effects="random", reference="A", n_agq=1).fit(
            ipd, risk=None, aggregate=std, aggregate_events="relapse", **KW)
    assert res.tau < 1e-4 and exp["tau"] < 1e-4
    np.testing.assert_allclose(res.params.loc[res.design.param_names(), "estimate"],
                               exp["fixef"], atol=1e-5)
    assert res.loglik == pytest.approx(exp["logLik"], abs=1e-6)


def test_risk_term_at_trial_mean_or_left_out(cn):
    """With trial centring the risk term of an aggregate trial is 0 whether it is left
    out or entered at the trial's mean: both equal expanding the AD with any constant
    covariate per trial.  A per-arm mean risk moves the estimates."""
    _, ipd, std = cn
    m = RiskNMR(engine="ml", reference="A")
    left_out = m.fit(ipd, risk="age", aggregate=std, aggregate_events="relapse", **KW)
    at_mean = m.fit(ipd, risk="age", aggregate=std.assign(age=std["age"]),
                    aggregate_events="relapse", aggregate_risk="age", **KW)
    both = expand(ipd, std, age=np.repeat(np.repeat(std["age"].to_numpy(), 2),
                                          np.concatenate([[r, n - r] for r, n in
                                                          zip(std["relapse"], std["n"])])))
    manual = m.fit(both, risk="age", **KW)
    for r in (left_out, at_mean):
        np.testing.assert_allclose(r.params["estimate"], manual.params["estimate"],
                                   rtol=1e-10, atol=1e-12)
    # the prediction centre comes from the IPD only
    assert left_out.risk_centre == pytest.approx(ipd["age"].mean())
    assert len(left_out.fitted_risk_frame()) == len(ipd)
    per_arm = m.fit(ipd, risk="age", aggregate=std.assign(age=std["age"] + [0, 5, 0, 5]),
                    aggregate_events="relapse", aggregate_risk="age", **KW)
    assert not np.allclose(per_arm.params["estimate"], manual.params["estimate"])


def test_bayes_aggregate_equals_expansion(cn):
    _, ipd, std = cn
    kw = dict(engine="bayes", effects="random", reference="A", chains=1, draws=60,
              warmup=60, random_state=4)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = RiskNMR(**kw).fit(ipd, risk=None, aggregate=std, aggregate_events="relapse", **KW)
        b = RiskNMR(**kw).fit(expand(ipd, std), risk=None, **KW)
    pd.testing.assert_frame_equal(a.params, b.params)


def test_aggregate_errors(cn):
    _, ipd, std = cn
    m = RiskNMR(engine="ml", reference="A")
    with pytest.raises(DataError, match="also appear in the IPD"):
        m.fit(ipd, risk=None, aggregate=std.assign(id=[1, 1, 2, 2]),
              aggregate_events="relapse", **KW)
    with pytest.raises(DataError, match="0 <= events <= n"):
        m.fit(ipd, risk=None, aggregate=std.assign(n=[25, 5, 126, 125]),
              aggregate_events="relapse", **KW)
    with pytest.raises(Exception, match="events"):
        m.fit(ipd, risk=None, aggregate=std, **KW)   # no 'events' column
    with pytest.raises(ModelSpecificationError, match="aggregate_risk"):
        m.fit(ipd, risk=None, aggregate=std, aggregate_events="relapse",
              aggregate_risk="age", **KW)
