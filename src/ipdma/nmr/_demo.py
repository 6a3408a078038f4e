"""The risk-based NMR (stage 2) section of ``ipdma demo``."""

from __future__ import annotations

from pathlib import Path

__all__ = ["demo_section"]


def demo_section(report, out_dir: Path, random_state: int) -> None:
    """Stage 2 on the MS-like network: stage-1 risk score (logistic GLM), Bayesian
    network meta-regression on the trial-centred logit risk, external placebo cohort for
    the baseline, predictions along baseline risk and per patient."""
    import warnings

    import matplotlib.pyplot as plt
    import numpy as np

    from ..datasets import make_ms_network
    from ..prognosis import RiskModel
    from . import RiskNMR

    sim = make_ms_network(random_state=random_state)
    covs = ["AGE", "SEX", "EDSSBL", "ONSYRS", "RLPS1YR", "TRELMOS", "PRMSGR", "T25FWABL",
            "SFPCSBL"]
    data, ext = sim.data.copy(), sim.external.copy()
    for d in (data, ext):
        for col in ("ONSYRS", "T25FWABL", "RLPS1YR"):
            d[col] = np.log(d[col] + 1)
    data = data.dropna(subset=covs)
    sec = report.section(
        "Who benefits from which treatment: risk-based network meta-regression",
        intro="Stage 2 of Chalkou et al. (2021): a network meta-regression of relapse on the "
              "stage-1 logit baseline risk, centred within each trial, with treatment effects "
              "and treatment-by-risk interactions relative to placebo (order-free "
              "parametrisation), fitted by NUTS. The placebo log-odds for absolute "
              "predictions comes from an external placebo cohort.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        risk = RiskModel("glm").fit(data, outcome="RELAPSE2year", covariates=covs)
        data["logit_risk"] = risk.score(data)["logit_risk"]
        res = RiskNMR(engine="bayes", random_state=random_state).fit(
            data, trial="STUDYID", treatment="TRT01A", outcome="RELAPSE2year",
            risk="logit_risk", external_control=ext)
    sec.table(res.to_frame().round(4), caption="Posterior summaries (se = posterior sd)",
              index=False)
    grid = res.predict(risk=[0.2, 0.4, 0.6])
    sec.table(grid.round(3), caption="Predictions at baseline risk 20/40/60 %: probability, "
                                     "absolute risk reduction and OR vs placebo, P(best)",
              index=False)
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.6))
    for ax, kind in zip(axes, ("risk", "or", "benefit", "which")):
        res.plot(kind, ax=ax)
    fig.tight_layout()
    sec.figure(fig, caption="Predicted relapse risk, odds ratio and absolute benefit against "
                            "baseline risk (95 % credible bands; dashed: observed range), and "
                            "the probability that each treatment is best per patient.")
    plt.close(fig)
    calc = res.export_calculator(
        out_dir / "calculator_nmr.html", risk_model=risk, data=data,
        outcome_label="relapse within 2 years",
        labels={c: f"{c} (entered as log({c} + 1))" for c in ("ONSYRS", "T25FWABL", "RLPS1YR")},
        title="Relapse within 2 years under each treatment (MS-like example network)")
    sec.html(f'<p class="calculator"><a href="{calc.name}">Open the per-patient treatment '
             'calculator</a>: one self-contained page (no network, no server) where a clinician '
             "enters a patient's characteristics and reads the predicted relapse risk under "
             "each treatment, the benefit vs placebo, P(best) and the recommended "
             f"treatment ({calc.stat().st_size / 1000:.0f} kB).</p>")
    rec = grid[grid["recommended"]]
    sec.conclusions([
        "Recommended treatment (best point prediction) at baseline risk "
        + ", ".join(f"{100 * r:.0f}%: {t} (P(best) {pb:.2f})" for r, t, pb in
                    zip(rec["baseline_risk"], rec["treatment"], rec["p_best"])) + ".",
        "Absolute benefit grows with baseline risk when the odds ratio is constant: "
        "patients at higher risk gain more from the same relative effect."])
    sec.code(f"""from ipdma.nmr import RiskNMR
# data: IPD with the stage-1 score column 'logit_risk'; ext: external placebo cohort
res = RiskNMR(engine="bayes", random_state={random_state}).fit(
    data, trial="STUDYID", treatment="TRT01A", outcome="RELAPSE2year",
    risk="logit_risk", external_control=ext)
print(res.summary())
curves = res.predict()                       # grid 0.01..0.99 x treatment
patients = res.predict(data[["logit_risk"]])  # per patient x treatment
res.plot("benefit")
res.export_calculator("calculator_nmr.html", risk_model=risk, data=data)  # for clinicians""")


def survival_section(report, out_dir: Path, random_state: int) -> None:
    """Time-to-event version of the risk-based NMR on a simulated survival network:
    Kaplan-Meier description, stage-1 Cox risk score, stage-2 Cox network meta-regression
    (ML: stratified partial likelihood, seconds), survival at a horizon and RMST per
    treatment along the risk score, compared with the data-generating truth."""
    import warnings

    import matplotlib.pyplot as plt
    import numpy as np

    from ..data import describe
    from ..datasets import make_survival_network
    from ..prognosis import SurvivalRiskModel
    from . import RiskNMR

    sim = make_survival_network(1600, random_state=random_state)
    ipd = sim.ipd()
    sec = report.section(
        "Time to event: risk-based network meta-regression",
        intro="The same two stages for a time-to-event outcome: a Cox model of baseline "
              "hazard (stage 1, trial-stratified baselines) gives each patient a risk score "
              "(log relative hazard); stage 2 is a Cox network meta-regression with a "
              "baseline hazard per trial, log hazard ratios vs placebo and "
              "treatment-by-risk interactions (order-free parametrisation, partial "
              "likelihood = R's coxph(Surv(time, event) ~ trt * Rc + strata(trial))). "
              "Absolute predictions: survival at t* = 2 and restricted mean survival time "
              "(RMST) up to 3, with delta-method intervals.")
    desc = describe(ipd)
    sec.table(desc.to_frame().round(3), caption="Patients, events, censored and median "
                                                "follow-up (reverse Kaplan-Meier) per arm",
              index=False)
    sec.figure(desc.plot_km(), caption="Kaplan-Meier curves per trial by arm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stage1 = SurvivalRiskModel("cox", trial_effect="strata").fit(ipd)
        data = sim.data.assign(risk_lp=stage1.predict_lp(sim.data))
        res = RiskNMR(engine="ml", random_state=random_state).fit(
            data, trial="trial", treatment="treatment", time="time", event="event",
            risk="risk_lp")
    sec.table(res.to_frame().round(4), caption="Stage 2: log hazard ratios (d), prognostic "
                                               "slope (g0) and risk interactions (gamma)",
              index=False)
    lo, hi = np.quantile(data["risk_lp"], [0.1, 0.9])
    grid = res.predict([round(float(lo), 2), 0.0, round(float(hi), 2)], horizon=2.0, tau=3.0)
    cols = ["risk_score", "treatment", "surv", "surv_lower", "surv_upper", "surv_diff",
            "rmst_diff", "rmst_diff_lower", "rmst_diff_upper", "hr", "p_best"]
    sec.table(grid[cols].round(3), caption="Predictions at the 10th percentile, 0 and the "
                                           "90th percentile of the risk score", index=False)
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.6))
    for ax, kind in zip(axes, ("survival", "benefit", "rmst", "which")):
        res.plot(kind, ax=ax, **({} if kind == "which" else {"horizon": 2.0, "tau": 3.0}))
    fig.tight_layout()
    sec.figure(fig, caption="Predicted survival at t* = 2, survival and RMST differences vs "
                            "placebo against the risk score (95 % confidence bands), and the "
                            "probability that each treatment is best per patient.")
    plt.close(fig)
    # check against the truth: mean true vs predicted survival at t = 2 per treatment
    pat = res.predict(data[["risk_lp"]], horizon=2.0, baseline="pooled")
    pred = pat.groupby("treatment", sort=False)["surv"].mean()
    true = {t: float(sim.truth[f"S2_{t}"].mean()) for t in res.treatments}
    sec.table(pred.rename("predicted").to_frame().assign(
        true=[true[t] for t in pred.index]).round(3),
        caption="Mean predicted vs true survival at t = 2 over the patients, per treatment")
    rec = grid[grid["recommended"]]
    sec.conclusions([
        "Recommended treatment (highest predicted survival at t* = 2) at risk score "
        + ", ".join(f"{r:.2f}: {t} (P(best) {pb:.2f})" for r, t, pb in
                    zip(rec["risk_score"], rec["treatment"], rec["p_best"])) + ".",
        "Hazard ratios that change with the risk score (gamma) make the ranking of "
        "treatments depend on the patient's baseline risk; the survival and RMST "
        "differences translate them to absolute terms."])
    sec.code(f"""from ipdma.datasets import make_survival_network
from ipdma.prognosis import SurvivalRiskModel
from ipdma.nmr import RiskNMR
sim = make_survival_network(1600, random_state={random_state})
stage1 = SurvivalRiskModel("cox", trial_effect="strata").fit(sim.ipd())
data = sim.data.assign(risk_lp=stage1.predict_lp(sim.data))
res = RiskNMR(engine="ml").fit(data, trial="trial", treatment="treatment",
                               time="time", event="event", risk="risk_lp")
print(res.summary())
res.predict(horizon=2.0, tau=3.0)          # survival, RMST, differences, HR, P(best)
res.plot("rmst", horizon=2.0, tau=3.0)
# engine="bayes": piecewise-constant baseline hazard per trial, NUTS""")
