"""The baseline-risk (stage 1) section of ``ipdma demo``."""

from __future__ import annotations

from pathlib import Path

__all__ = ["demo_section"]


def demo_section(report, out_dir: Path, random_state: int) -> None:
    """Stage-1 prognostic model on the MS-like network: PMLE with the corrected-AIC
    penalty, bootstrap optimism correction, IECV, calibration and risk plots."""
    import warnings

    import matplotlib.pyplot as plt
    import numpy as np

    from ..datasets import make_ms_network
    from . import RiskModel

    sim = make_ms_network(random_state=random_state)
    data = sim.data.copy()
    for col in ("ONSYRS", "T25FWABL", "RLPS1YR"):
        data[col] = np.log(data[col] + 1)
    covs = ["AGE", "SEX", "EDSSBL", "ONSYRS", "RLPS1YR", "TRELMOS", "PRMSGR", "T25FWABL",
            "SFPCSBL"]
    sec = report.section(
        "Baseline risk: the stage-1 prognostic model",
        intro="A pooled logistic model of 2-year relapse on pre-specified predictors, blind to "
              "treatment and trial, fitted by penalised ML (rms::lrm penalty chosen by "
              "corrected AIC), as in Chalkou et al. (2021). Internal validation by Harrell's "
              "bootstrap (penalty re-tuned in every replicate) and by leave-one-trial-out "
              "internal-external cross-validation.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RiskModel("pmle", penalty="aic").fit(
            data, outcome="RELAPSE2year", covariates=covs, trial="STUDYID",
            treatment="TRT01A")
    sec.table(model.to_frame(), caption=f"Coefficients (penalty {model.penalty_:.3g}, "
                                        f"n = {model.n_}, {model.events_} events)",
              index=False)
    boot = model.validate(B=100, random_state=random_state)
    sec.table(boot.table, caption="Bootstrap (B = 100) optimism-corrected performance")
    iecv = model.validate(method="iecv")
    sec.table(iecv.table, caption="Performance in each held-out trial (IECV)", index=False)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    boot.plot_calibration(ax=axes[0])
    iecv.plot_calibration(ax=axes[1])
    model.plot_risk_distribution(ax=axes[2], by="arm")
    fig.tight_layout()
    sec.figure(fig, caption="Top left: apparent calibration with optimism-corrected "
                            "measures. Top right: calibration in held-out trials. Bottom: "
                            "predicted baseline risk by arm (randomisation makes the arms "
                            "alike).")
    plt.close(fig)
    tab = boot.table
    pts = [f"{model.events_} relapses in {model.n_} patients; penalty {model.penalty_:.3g} "
           "(corrected AIC)."]
    pts.append(f"Optimism-corrected c-statistic {float(tab.loc['c_statistic', 'corrected']):.3f}"
               f" (apparent {float(tab.loc['c_statistic', 'apparent']):.3f}), calibration "
               f"slope {float(tab.loc['calibration_slope', 'corrected']):.2f}.")
    pts.append("Calibration in the held-out trials shows how far the pooled baseline risk "
               "transports to a new trial; stage 2 centres the risk within each trial.")
    sec.conclusions(pts)
    sec.code(f"""import numpy as np
from ipdma.datasets import make_ms_network
from ipdma.prognosis import RiskModel
data = make_ms_network(random_state={random_state}).data
for c in ("ONSYRS", "T25FWABL", "RLPS1YR"):
    data[c] = np.log(data[c] + 1)
model = RiskModel("pmle", penalty="aic").fit(
    data, outcome="RELAPSE2year", covariates={covs!r},
    trial="STUDYID", treatment="TRT01A")
print(model.summary())
boot = model.validate(B=100, random_state={random_state}); print(boot.summary())
iecv = model.validate(method="iecv"); iecv.plot_calibration()
scores = model.score(data)           # risk and logit_risk per patient, for stage 2""")
