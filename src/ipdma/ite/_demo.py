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
    sec.code(f"""from ipdma.datasets import make_ite_continuous
from ipdma.ite import TwoStageITE, compare_methods
sim = make_ite_continuous(scenario=5, random_state={random_state}, n_test_per_trial=300)
model = TwoStageITE("ols", "mvma", random_state={random_state}).fit(sim.ipd())
pred = model.predict(sim.test)          # ite, se, ci_low, ci_high, pi_low, pi_high, ite_<trial>
print(model.summary()); model.plot("covariate", covariate="x5")
cmp = compare_methods(sim.ipd(), ["ols+mvma", "ols+weighted-aux-ols", "lasso+weighted-aux-ols"],
                      random_state={random_state}, true_ite=sim.truth["ite_true"])
print(cmp.summary()); cmp.plot()""")
