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
