"""``export_calculator``: a fitted model as a self-contained HTML calculator page."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ModelSpecificationError
from ._html import render_html
from ._spec import EXPORTABLE_ITE, ite_spec, nmr_spec, tree_spec

__all__ = ["calculator_spec", "export_calculator"]


def calculator_spec(model: Any, **options: Any) -> dict:
    """The calculator spec (plain JSON-able dict) of a fitted model.

    ``model`` is a fitted :class:`ipdma.nmr.RiskNMRResult` (options ``risk_model``,
    ``data``, ``baseline``, ``point``; time to event: ``risk_model`` a
    :class:`~ipdma.prognosis.SurvivalRiskModel`, ``horizon``, ``tau``, ``baseline``; ML or
    Bayesian engine, Cox or Weibull -- a Bayesian Cox page leaves out the RMST, with a
    note and a ``DataWarning``, when its per-draw grid would take the page past 300 kB),
    :class:`ipdma.ite.TwoStageITE` (``data``,
    ``treatments``, ``higher_is_better``) or :class:`ipdma.trees.MOB` /
    :class:`ipdma.trees.MetaMOB` (``data``, ``treatments``, ``higher_is_better``); all take
    ``title``, ``units``, ``labels``, ``outcome_label`` and ``data_label``.
    """
    from ..ite import TwoStageITE
    from ..nmr import RiskNMRResult
    from ..trees import MOB, MetaMOB

    if isinstance(model, RiskNMRResult):
        if getattr(model, "family", None) == "survival":
            from ._spec_survival import survival_nmr_spec

            return survival_nmr_spec(model, **options)
        return nmr_spec(model, **options)
    if isinstance(model, TwoStageITE):
        return ite_spec(model, **options)
    if isinstance(model, (MOB, MetaMOB)):
        return tree_spec(model, **options)
    raise ModelSpecificationError(
        f"no calculator for {type(model).__name__}: export a fitted RiskNMR result "
        f"(with its RiskModel), a TwoStageITE ({EXPORTABLE_ITE}), a MOB or a MetaMOB")


def export_calculator(model: Any, path: str | Path, *, title: str | None = None,
                      data=None, units: Mapping[str, str] | None = None,
                      labels: Mapping[str, str] | None = None, **options: Any) -> Path:
    """Write a per-patient treatment calculator for a fitted model as one HTML file.

    The page needs no network and no server (code, style and model inline): the
    clinician enters the patient's characteristics and reads the prediction under each
    treatment with intervals, the benefit vs the reference, the recommended treatment,
    the patient's position on the benefit plot and the model's provenance.  Its numbers
    are computed in the browser with the same arithmetic as the model's ``predict``.

    Parameters
    ----------
    model : RiskNMRResult, TwoStageITE, MOB or MetaMOB
        A fitted model (see :func:`calculator_spec` for the options of each).
    path : str or Path
        Output file (``.html``).
    title : str, optional
        Page title.
    data : DataFrame, optional
        Development data: ranges, allowed values and defaults (median / mode) of the
        inputs.  For a RiskNMR with ``risk_model`` it must hold the risk model's
        covariates; a TwoStageITE uses its fitted covariates when not given.
    units, labels : mapping, optional
        Unit and label of each input (column name -> text).
    **options
        ``risk_model``, ``baseline``, ``point`` (RiskNMR; time to event also ``horizon``
        and ``tau``); ``treatments``,
        ``higher_is_better`` (TwoStageITE, trees); ``outcome_label``, ``data_label``.

    Returns
    -------
    Path
        The written file.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from ipdma.nmr import RiskNMR
    >>> from ipdma.calculator import export_calculator
    >>> rng = np.random.default_rng(1)
    >>> df = pd.DataFrame({"trial": np.repeat(["T1", "T2", "T3"], 100),
    ...                    "treat": rng.choice(["placebo", "A"], 300),
    ...                    "logit_risk": rng.normal(-0.5, 0.8, 300)})
    >>> df["y"] = rng.binomial(1, 1 / (1 + np.exp(-(df.logit_risk - 0.7 * (df.treat == "A")))))
    >>> res = RiskNMR(engine="ml", n_sim=500).fit(df, trial="trial", treatment="treat",
    ...                                            outcome="y")
    >>> import tempfile, pathlib
    >>> out = export_calculator(res, pathlib.Path(tempfile.mkdtemp()) / "calc.html")
    >>> out.read_text()[:15]
    '<!DOCTYPE html>'
    """
    path = Path(path)
    if path.exists() and path.is_dir():
        raise ModelSpecificationError(f"{path} is a folder; give the calculator's file name")
    if not path.parent.exists():
        raise ModelSpecificationError(f"folder {path.parent} does not exist")
    spec = calculator_spec(model, title=title, data=data, units=units, labels=labels,
                           **options)
    path.write_text(render_html(spec), encoding="utf-8")
    return path
