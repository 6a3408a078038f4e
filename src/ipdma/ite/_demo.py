"""The two-stage ITE section of ``ipdma demo``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["demo_section"]


def demo_section(report, out_dir: Path, random_state: int) -> None:
    """Two-stage ITE meta-analysis on a simulated scenario: pooled coefficients,
    predicted ITEs with intervals for new trials, and a leave-one-trial-out comparison."""
    import matplotlib.pyplot as plt

    from ..datasets import make_ite_continuous
    from . import TwoStageITE, compare_methods

    sim = make_ite_continuous(scenario=5, random_state=random_state, n_test_per_trial=300)
    ipd = sim.ipd()
    test = sim.test
    sec = report.section(
        "Individualised treatment effects: two-stage IPD meta-analysis",
        intro="Stage 1 fits a learner in each trial; stage 2 pools the trials (Mainetti et "
              "al.). Data: ITE scenario 5 (10 trials of 300-600 patients, linear effect "
              "modification, tau^2 = 0.2); predictions for 3 new trials whose true ITEs are "
              "known.")
    model = TwoStageITE("ols", "mvma", random_state=random_state).fit(ipd)
    model.predict(test)
    sec.table(model.pooler_.coef_frame(),
              caption="Pooled treatment coefficients (REML multivariate meta-analysis)")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    model.plot("covariate", covariate="x5", ax=axes[0])
    model.plot("trials", profile=0, ax=axes[1])
    fig.tight_layout()
    sec.figure(fig, caption="Left: predicted ITE against x5 with 95% CIs. Right: per-trial "
                            "ITEs of the first test patient, the pooled estimate, its CI and "
                            "the prediction interval for a new trial.")
    plt.close(fig)
    rows = []
    for lrn, pool in (("ols", "mvma"), ("ols", "weighted-aux-ols"),
                      ("lasso", "weighted-aux-ols"), ("bayes-lm", "posterior-mix")):
        m = TwoStageITE(lrn, pool, random_state=random_state).fit(ipd)
        p = m.predict(test)
        rows.append({"method": m.name,
                     "median absolute error vs true ITE": float(np.median(np.abs(p["ite"] - test["ite_true"]))),
                     "mean CI width": float(np.mean(p["ci_high"] - p["ci_low"]))})
    import pandas as pd

    sec.table(pd.DataFrame(rows), caption="Out-of-trial accuracy on the 3 new trials "
                                          "(median absolute error, the paper's metric)",
              index=False)
    cmp = compare_methods(ipd, ["ols+mvma", "ols+weighted-aux-ols", "lasso+weighted-aux-ols"],
                          random_state=random_state,
                          true_ite=sim.truth["ite_true"].to_numpy())
    sec.table(cmp.table, caption="Leave-one-trial-out ranking by transformed-outcome risk, "
                                 "with calibration for benefit")
    ax = cmp.plot()
    sec.figure(ax.figure, caption="Calibration for benefit: observed vs predicted benefit in "
                                  "quintiles of predicted benefit (leave-one-trial-out).")
    plt.close(ax.figure)
    brows, bcmp = _binary_example(sec, random_state)
    _network_example(sec, random_state)
    err = "median absolute error vs true ITE"
    best = min(rows, key=lambda r: r[err])
    berr = "median absolute error vs true RD"
    bbest = brows.iloc[:-1].sort_values(berr).iloc[0]
    sec.conclusions([
        f"Continuous outcome: {best['method']} has the smallest median absolute error on "
        f"the new trials ({best[err]:.3g}); leave-one-trial-out ranks "
        f"{cmp.table.index[0]} first.",
        f"Binary outcome: {bbest['method']} predicts the risk differences of new-trial "
        f"patients with median absolute error {bbest[berr]:.3g} (a constant prediction: "
        f"{brows.iloc[-1][berr]:.3g}); leave-one-trial-out c-for-benefit ranks "
        f"{bcmp.table.index[0]} first."])
    sec.code(f"""from ipdma.datasets import make_ite_binary, make_ite_continuous
from ipdma.ite import TwoStageITE, compare_methods
sim = make_ite_continuous(scenario=5, random_state={random_state}, n_test_per_trial=300)
model = TwoStageITE("ols", "mvma", random_state={random_state}).fit(sim.ipd())
pred = model.predict(sim.test)          # ite, se, ci_low, ci_high, pi_low, pi_high, ite_<trial>
print(model.summary()); model.plot("covariate", covariate="x5")
cmp = compare_methods(sim.ipd(), ["ols+mvma", "ols+weighted-aux-ols", "lasso+weighted-aux-ols"],
                      random_state={random_state}, true_ite=sim.truth["ite_true"])
print(cmp.summary()); cmp.plot()
# binary outcome: risk differences, the risks under each arm, c-for-benefit
bsim = make_ite_binary(scenario=5, random_state={random_state}, n_test_per_trial=300)
bmodel = TwoStageITE("logistic", "mvma", random_state={random_state}).fit(bsim.ipd())
bpred = bmodel.predict(bsim.test)        # ite (risk difference), se, CI, PI, p0, p1
bcmp = compare_methods(bsim.ipd(), ["logistic+mvma", "logistic+weighted-aux-ols"],
                       random_state={random_state})   # ranked by c-for-benefit""")


def _binary_example(sec, random_state: int) -> None:
    """The same pipeline on the binary analogue (make_ite_binary): risk differences."""
    import matplotlib.pyplot as plt
    import pandas as pd

    from ..datasets import make_ite_binary
    from . import TwoStageITE, compare_methods

    sim = make_ite_binary(scenario=5, random_state=random_state, n_test_per_trial=300)
    ipd = sim.ipd()
    test = sim.test
    covs = sim.columns["covariates"]
    sec.text("Binary outcome (make_ite_binary, the logistic analogue of scenario 5: 10 trials, "
             "response yes/no). The ITE is the risk difference P(response | treated) - "
             "P(response | control); pooler (a) pools each trial's full logistic coefficient "
             "vector (diagonal between-trial covariance) and gives the risk difference for "
             "a new trial with a delta-method SE.")
    rows = []
    preds = {}
    for lrn, pool in (("logistic", "mvma"), ("logistic", "weighted-aux-ols"),
                      ("logistic-lasso", "weighted-aux-ols")):
        m = TwoStageITE(lrn, pool, random_state=random_state).fit(ipd)
        p = m.predict(test[covs])
        preds[m.name] = p
        rows.append({"method": m.name,
                     "median absolute error vs true RD":
                         float(np.median(np.abs(p["ite"] - test["ite_true"]))),
                     "mean CI width": float(np.mean(p["ci_high"] - p["ci_low"]))})
    rows.append({"method": "constant (mean true RD)",
                 "median absolute error vs true RD":
                     float(np.median(np.abs(test["ite_true"] - test["ite_true"].mean()))),
                 "mean CI width": np.nan})
    sec.table(pd.DataFrame(rows), caption="Binary outcome: out-of-trial accuracy of the "
                                          "predicted risk differences on 3 new trials",
              index=False)
    p = preds["logistic+mvma"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    ax = axes[0]
    ax.errorbar(test["ite_true"], p["ite"], yerr=[p["ite"] - p["ci_low"], p["ci_high"] - p["ite"]],
                fmt="o", ms=2.5, alpha=0.35, elinewidth=0.6)
    lim = [min(test["ite_true"].min(), p["ite"].min()), max(test["ite_true"].max(),
                                                           p["ite"].max())]
    ax.plot(lim, lim, "k--", lw=1)
    ax.set_xlabel("true risk difference")
    ax.set_ylabel("predicted risk difference (95% CI)")
    ax.set_title("logistic + mvma: new trials")
    ax = axes[1]
    ax.scatter(p["p0"], p["p1"], s=6, alpha=0.5)
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set_xlabel("predicted P(response), control")
    ax.set_ylabel("predicted P(response), treated")
    ax.set_title("Risks under each arm (above the line: benefit)")
    fig.tight_layout()
    sec.figure(fig, caption="Binary outcome. Left: predicted vs true risk difference of the "
                            "new-trial patients. Right: the predicted risks under each arm.")
    plt.close(fig)
    cmp = compare_methods(ipd, ["logistic+mvma", "logistic+weighted-aux-ols"],
                          random_state=random_state)
    sec.table(cmp.table, caption="Binary outcome: leave-one-trial-out ranking by "
                                 "c-for-benefit, with calibration for benefit")
    return pd.DataFrame(rows), cmp


def _network_example(sec, random_state: int) -> None:
    """More than two treatments: the four-treatment MS example (make_ms_network), the
    predicted best treatment per patient."""
    import warnings

    import matplotlib.pyplot as plt
    import pandas as pd

    from ..datasets import make_ms_network
    from ..plots import color_for
    from . import TwoStageITE

    sim = make_ms_network(random_state=random_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # the complete-case note is in the data section
        ipd = sim.ipd()
    model = TwoStageITE("logistic", "weighted-aux-ols", random_state=random_state).fit(
        ipd, higher_is_better=False)
    pred = model.predict(ipd.data)
    trts = model.treatments_
    sec.text(f"More than two treatments: the multiple-sclerosis example ({', '.join(trts)}; "
             "S1 DMF/PBO, S2 DMF/GA/PBO, S3 NAT/PBO), outcome relapse within two years "
             "(lower is better). Stage 1 fits one logistic model per trial with all its "
             "arms; stage 2 pools each patient's risk differences vs PBO by network GLS "
             "(weighted-aux-ols). Predictions for the trials' own patients.")
    rows = []
    for t in trts[1:]:
        c = f"{t}_vs_{trts[0]}"
        rows.append({"treatment": t, "mean RD vs " + trts[0]: float(pred[f"ite_{c}"].mean()),
                     "mean se": float(pred[f"se_{c}"].mean()),
                     "patients with this best": int((pred["best_treatment"] == t).sum()),
                     "mean P(best)": float(pred[f"p_best_{t}"].mean())})
    sec.table(pd.DataFrame(rows), caption="Four-treatment network: predicted risk "
                                          "differences vs placebo and the best treatment",
              index=False)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    model.plot("best", covariate="AGE", ax=axes[0])
    ax = axes[1]
    order = np.argsort(-pred[f"p_best_{trts[-1]}"].to_numpy(), kind="stable")
    bottom = np.zeros(len(pred))
    for k, t in enumerate(trts):
        v = pred[f"p_best_{t}"].to_numpy()[order]
        ax.fill_between(np.arange(len(v)), bottom, bottom + v, color=color_for(k), lw=0,
                        label=t)
        bottom += v
    ax.set_xlabel("patients (sorted by P(best) of " + trts[-1] + ")")
    ax.set_ylabel("P(best)")
    ax.set_ylim(0, 1)
    ax.legend(frameon=False, fontsize="small", ncol=len(trts))
    fig.tight_layout()
    sec.figure(fig, caption="Best treatment per patient (lowest predicted relapse risk). "
                            "Left: predicted best treatment against age and the second "
                            "covariate. Right: P(best) of each treatment, patient by patient.")
    plt.close(fig)
