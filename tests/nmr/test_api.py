"""API, options, errors and plots of ipdma.nmr."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from ipdma.errors import (
    ColumnNotFoundError,
    IPDMAError,
    MissingDataError,
    ModelSpecificationError,
    NetworkError,
    NotFittedError,
    OutcomeError,
)
from ipdma.nmr import RiskNMR, RiskNMRResult

KW = dict(trial="trial", treatment="treat", outcome="y", risk="logit_risk")


def small_network(seed: int = 0, n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    designs = {"T1": ["placebo", "A"], "T2": ["placebo", "A", "B"], "T3": ["A", "B"],
               "T4": ["placebo", "B"]}
    d = {"placebo": 0.0, "A": -0.7, "B": -0.4}
    g = {"placebo": 0.0, "A": 0.3, "B": -0.3}
    rows = []
    for j, arms in designs.items():
        for a in arms:
            r = rng.normal(-0.5, 0.8, n)
            eta = 0.1 + d[a] + (1 + g[a]) * (r + 0.5)
            rows.append(pd.DataFrame({"trial": j, "treat": a, "logit_risk": r,
                                      "y": rng.binomial(1, 1 / (1 + np.exp(-eta)))}))
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def net():
    return small_network()


def test_ml_fit_and_tidy_prediction(net):
    res = RiskNMR(engine="ml", random_state=0).fit(net, **KW)
    assert isinstance(res, RiskNMRResult)
    assert res.reference == "placebo"
    assert res.treatments == ["placebo", "A", "B"]
    assert list(res.params.index) == ["u[T1]", "u[T2]", "u[T3]", "u[T4]", "d[A]", "d[B]", "g0",
                                      "gamma[A]", "gamma[B]"]
    pred = res.predict()
    assert len(pred) == 99 * 3
    cols = {"baseline_risk", "treatment", "prob", "prob_lower", "prob_upper", "ard",
            "ard_lower", "ard_upper", "or", "or_lower", "or_upper", "p_best", "recommended"}
    assert cols <= set(pred.columns)
    assert (pred.groupby("baseline_risk")["recommended"].sum() == 1).all()
    np.testing.assert_allclose(pred.groupby("baseline_risk")["p_best"].sum(), 1.0)
    ref = pred[pred["treatment"] == "placebo"]
    assert (ref["ard"] == 0).all() and np.allclose(ref["or"], 1.0)
    assert ((pred["prob_lower"] <= pred["prob"]) & (pred["prob"] <= pred["prob_upper"])).all()
    # recommended = lowest predicted probability for a harmful outcome
    wide = pred.pivot(index="baseline_risk", columns="treatment", values="prob")
    rec = pred[pred["recommended"]].set_index("baseline_risk")["treatment"]
    assert (wide.idxmin(axis=1) == rec).all()
    # the trials baseline: mean over trials of u_j + d_k + (g0 + gamma_k)(R - Rbar_j)
    b = res.coef
    x = np.log(0.3 / 0.7) - res.design.centre_trial
    lp = np.mean(b.iloc[:4].to_numpy() + b["d[A]"] + (b["g0"] + b["gamma[A]"]) * x)
    p = pred.loc[(pred.baseline_risk == 0.3) & (pred.treatment == "A"), "prob"].item()
    assert p == pytest.approx(1 / (1 + np.exp(-lp)))


def test_same_seed_same_numbers(net):
    a = RiskNMR(engine="ml", random_state=3).fit(net, **KW).predict([0.2, 0.6])
    b = RiskNMR(engine="ml", random_state=3).fit(net, **KW).predict([0.2, 0.6])
    pd.testing.assert_frame_equal(a, b)


def test_options_centring_scale_reference(net):
    glob = RiskNMR(engine="ml", centring="global").fit(net, **KW)
    assert np.allclose(glob.design.centre_trial, net["logit_risk"].mean())
    prob = RiskNMR(engine="ml", risk_scale="probability").fit(net, **KW)
    x = 1 / (1 + np.exp(-net["logit_risk"]))
    assert prob.risk_centre == pytest.approx(x.mean())
    other = RiskNMR(engine="ml", reference="A").fit(net, **KW)
    assert other.treatments[0] == "A"
    base = RiskNMR(engine="ml").fit(net, **KW)
    # changing the reference re-expresses the same model: d_B - d_A and the fit agree
    assert other.loglik == pytest.approx(base.loglik, abs=1e-8)
    assert other.coef["d[B]"] == pytest.approx(base.coef["d[B]"] - base.coef["d[A]"], abs=1e-7)
    pa = base.predict([0.3], baseline="trials").set_index("treatment")["prob"]
    pb = other.predict([0.3], baseline="trials").set_index("treatment")["prob"]
    assert pb.index[0] == "A"
    np.testing.assert_allclose(pb.reindex(pa.index), pa, rtol=1e-7)


def test_plain_nma_without_risk(net):
    res = RiskNMR(engine="ml").fit(net, trial="trial", treatment="treat", outcome="y", risk=None)
    assert "g0" not in res.params.index
    pred = res.predict([0.2, 0.8], baseline="trials")
    # no risk term: predictions do not depend on baseline risk
    w = pred.pivot(index="baseline_risk", columns="treatment", values="prob")
    np.testing.assert_allclose(w.iloc[0], w.iloc[1])


def test_external_control_at_predict(net):
    res = RiskNMR(engine="ml").fit(net, **KW)
    with pytest.raises(ModelSpecificationError, match="external"):
        res.predict([0.5], baseline="external")
    ext = pd.DataFrame({"y": [0] * 60 + [1] * 40})
    pred = res.predict([0.5], external_control=ext)
    p0 = pred.loc[pred.treatment == "placebo", "prob"].item()
    x = np.log(0.5 / 0.5) - res.risk_centre
    assert p0 == pytest.approx(1 / (1 + np.exp(-(np.log(0.4 / 0.6) + res.coef["g0"] * x))))


def test_ipd_container_duck_typed(net):
    class FakeIPD:
        data = net
        trial_col, treatment_col, outcome_col = "trial", "treat", "y"
        reference = "A"

    res = RiskNMR(engine="ml").fit(FakeIPD(), risk="logit_risk")
    assert res.reference == "A"


def test_errors(net):
    with pytest.raises(ColumnNotFoundError, match=r"logit_rsk.*logit_risk"):
        RiskNMR(engine="ml").fit(net, **{**KW, "risk": "logit_rsk"})
    with pytest.raises(ModelSpecificationError, match="engine"):
        RiskNMR(engine="stan").fit(net, **KW)
    bad = net.assign(y=net["y"] * 2)
    with pytest.raises(OutcomeError, match="binary"):
        RiskNMR(engine="ml").fit(bad, **KW)
    miss = net.copy()
    miss.loc[3, "logit_risk"] = np.nan
    with pytest.raises(MissingDataError, match="logit_risk"):
        RiskNMR(engine="ml").fit(miss, **KW)
    single = pd.concat([net, pd.DataFrame({"trial": ["T9"], "treat": ["A"], "logit_risk": [0.1],
                                           "y": [1]})])
    with pytest.raises(NetworkError, match="T9"):
        RiskNMR(engine="ml").fit(single, **KW)
    disc = pd.concat([net, net[net.trial == "T1"].assign(trial="T8", treat=lambda d: np.where(
        d.treat == "A", "X", "Y"))])
    with pytest.raises(NetworkError, match="disconnected"):
        RiskNMR(engine="ml").fit(disc, **KW)
    with pytest.raises(NetworkError, match="reference"):
        RiskNMR(engine="ml", reference="Z").fit(net, **KW)
    res = RiskNMR(engine="ml").fit(net, **KW)
    with pytest.raises(ModelSpecificationError, match="between 0 and 1"):
        res.predict([0.0, 0.5])
    with pytest.raises(ModelSpecificationError, match="kind"):
        res.plot("violin")
    assert issubclass(NotFittedError, IPDMAError)


@pytest.mark.parametrize("kind", ["risk", "or", "benefit", "which"])
def test_plots_return_axes(net, kind):
    import matplotlib.pyplot as plt

    res = RiskNMR(engine="ml", random_state=0).fit(net, **KW)
    _fig, ax = plt.subplots()
    out = res.plot(kind, ax=ax)
    assert out is ax
    assert ax.get_xlabel()


def test_summary_and_frame(net):
    res = RiskNMR(engine="ml").fit(net, **KW)
    s = res.summary()
    assert "parameters" in s.tables and "reference" in s.info
    assert "gamma[B]" in str(s)
    assert res.to_frame().columns[0] == "parameter"


def test_bayes_random_effects_smoke():
    """Random treatment effects with NUTS (non-centred, multi-arm trial present): short run,
    posterior close to the ML (Laplace) fit on a network with little heterogeneity."""
    df = small_network(seed=4, n=150)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bay = RiskNMR(engine="bayes", effects="random", chains=1, draws=400, warmup=300,
                      tau_prior_scale=0.5, random_state=1).fit(df, **KW)
        ml = RiskNMR(engine="ml", effects="random").fit(df, **KW)
    assert "tau" in bay.params.index and "z" in bay.inference_data.posterior
    assert bay.params.loc["tau", "estimate"] > 0
    common = ["d[A]", "d[B]", "g0", "gamma[A]", "gamma[B]"]
    diff = (bay.params.loc[common, "estimate"] - ml.params.loc[common, "estimate"]).abs()
    assert (diff < 0.5 * bay.params.loc[common, "se"] + 0.05).all()
    pred = bay.predict([0.3])
    assert np.isclose(pred["p_best"].sum(), 1.0)


@pytest.mark.parametrize("random, tau_prior", [(False, "half-normal"), (True, "half-normal"),
                                               (True, "uniform")])
def test_hand_written_potential_equals_numpyro_model(random, tau_prior):
    """The sampler uses a hand-written log posterior; it must equal numpyro's potential
    energy of the documented model (_model_fn) at arbitrary parameter values."""
    import jax.numpy as jnp
    from numpyro.infer.util import potential_energy

    from ipdma.nmr._bayes import _model_fn, _potential_fn
    from ipdma.nmr._design import prepare

    d = prepare(small_network(seed=2, n=40), **KW, reference=None, centring="trial",
                risk_scale="logit")
    J, T, A = d.n_trials, d.n_treatments, d.re_arm_trial.size
    rng = np.random.default_rng(0)
    b = rng.normal(0, 0.5, len(d.param_names()))
    params = {"u": b[:J], "d": b[J:J + T - 1], "g0": b[J + T - 1], "gamma": b[J + T:]}
    ours = {"b": b}
    ZL = np.zeros((d.n, A))
    if random:
        zr, log_tau = rng.normal(size=A), -0.7
        params.update(tau=log_tau, z=zr)
        ours.update(tau=log_tau, z=zr)
        has = d.re_row >= 0
        ZL[has] = d.re_chol[d.re_row[has]]
    model = _model_fn(True, random, J, T, A, 31.6, 0.5, tau_prior)
    margs = (d.trial_idx, d.trt_idx, d.x, np.where(d.re_row >= 0, d.re_row, A), d.re_chol, d.y)
    ref = float(potential_energy(model, margs, {}, {k: jnp.asarray(v) for k, v in params.items()}))
    pe = _potential_fn(random, 31.6, 0.5, tau_prior)
    val = float(pe({k: jnp.asarray(v) for k, v in ours.items()},
                   (jnp.asarray(d.design_matrix()), jnp.asarray(ZL), jnp.asarray(d.y))))
    assert val == pytest.approx(ref, rel=1e-5)


def test_real_ipd_container(net):
    from ipdma.data import IPD

    ipd = IPD(net, trial="trial", treatment="treat", outcome="y", covariates=["logit_risk"])
    res = RiskNMR(engine="ml").fit(ipd, risk="logit_risk")
    direct = RiskNMR(engine="ml", reference=ipd.reference).fit(net, **KW)
    assert res.reference == ipd.reference
    np.testing.assert_allclose(res.coef.to_numpy(), direct.coef.to_numpy(), rtol=1e-10)


def test_demo_section(tmp_path):
    from ipdma.nmr._demo import demo_section
    from ipdma.report import Report

    report = Report("nmr demo")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        demo_section(report, tmp_path, 3)
    out = report.write(tmp_path)
    assert out.exists() and "network meta-regression" in out.read_text()
