"""The sections of ``ipdma demo``, in order.

Each entry maps a short name to (title, "module:function"); the function has
the signature ``demo_section(report, out_dir, random_state) -> None`` and adds
one section to the report (text, tables, figures and the exact calls).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

__all__ = ["DEMO_SECTIONS", "data_section", "load_section"]

DEMO_SECTIONS: dict[str, tuple[str, str]] = {
    "data": ("Example data and treatment network", "ipdma.report._demo:data_section"),
    "meta": ("Meta-analysis engines", "ipdma.meta._demo:demo_section"),
    "prognosis": ("Baseline risk: the stage-1 prognostic model",
                  "ipdma.prognosis._demo:demo_section"),
    "nmr": ("Who benefits from which treatment: risk-based network meta-regression",
            "ipdma.nmr._demo:demo_section"),
    "nmr-survival": ("Time to event: risk-based network meta-regression",
                     "ipdma.nmr._demo:survival_section"),
    "ite": ("Individualised treatment effects (two-stage)", "ipdma.ite._demo:demo_section"),
    "subgroups": ("Subgroup identification: MOB and metaMOB",
                  "ipdma.trees._demo:demo_section"),
}


def load_section(key: str) -> Callable:
    """Import and return the demo function registered under ``key``."""
    module, func = DEMO_SECTIONS[key][1].split(":")
    return getattr(importlib.import_module(module), func)


def data_section(report, out_dir: Path, random_state: int) -> None:
    """Describe the three example data sets; plot the MS-like treatment network."""
    from ..data import describe
    from ..datasets import make_ite_continuous, make_lbp_trials, make_ms_network

    sec = report.section(
        "Example data and treatment network",
        intro="Three seeded example data sets ship with ipdma, each with a documented "
              "data-generating mechanism and its truth: a multiple-sclerosis-like network "
              "(risk-based NMR), a two-stage ITE simulation scenario and low-back-pain-like "
              "trials (subgroup identification).")
    import warnings

    ms = make_ms_network(random_state=random_state)
    with warnings.catch_warnings():  # the drops are reported in the section instead
        warnings.simplefilter("ignore")
        ms_ipd = ms.ipd()
    desc = describe(ms_ipd)
    drop = ms_ipd.drop_report()
    sec.text("Multiple-sclerosis-like network: binary 2-year relapse; DEFINE-, CONFIRM- and "
             "AFFIRM-shaped trials.")
    sec.text(f"{drop['n_input']} rows; {drop['n_dropped']} left out because a covariate is "
             f"missing (complete-case analysis); {drop['n_used']} patients in the tables "
             "below.")
    sec.html(desc.summary().as_html())
    if drop["n_dropped"]:
        sec.table(ms_ipd.dropped_by_column,
                  caption="MS-like network: rows left out per trial and covariate (a row "
                          "missing two covariates counts under both)")
    sec.figure(desc.plot(), caption="Treatment network of the MS-like example: nodes sized by "
                                    "patients, edges by number of trials.")
    for label, sim in (("ITE scenario 1", make_ite_continuous(scenario=1,
                                                              random_state=random_state)),
                       ("Low-back-pain-like trials", make_lbp_trials(random_state=random_state))):
        d = describe(sim.ipd())
        sec.text(f"{label}: {len(sim.data)} patients in "
                 f"{sim.data[sim.columns['trial']].nunique()} trials.")
        sec.table(d.to_frame(), caption=f"{label}: patients and outcome per trial and arm",
                  index=False)
    sec.conclusions([
        f"The MS-like network connects {len(ms_ipd.treatments)} treatments through "
        f"{len(ms_ipd.trials)} trials; {drop['n_used']} of {drop['n_input']} patients have "
        "complete covariates.",
        "Every data set carries its data-generating truth, so the estimates in the sections "
        "below can be checked against it."])
    sec.code(f"""from ipdma.datasets import make_ms_network, make_ite_continuous, make_lbp_trials
from ipdma.data import describe
ms = make_ms_network(random_state={random_state})
desc = describe(ms.ipd())
print(desc.summary()); desc.plot()
describe(make_ite_continuous(scenario=1, random_state={random_state}).ipd()).to_frame()
describe(make_lbp_trials(random_state={random_state}).ipd()).to_frame()""")
