"""The network two-stage ITE calculator page with the weighted poolers
(``weighted-aux-ols``, ``weighted-bootstrap``; common effect or per-patient DL tau^2) and
a linear stage-1 learner, in headless Chromium: every non-reference contrast with SE /
CI / PI, the per-patient tau^2, the best treatment and P(best) equal
``TwoStageITE.predict`` to 1e-9 for 100+ random patients.  The network (make_ite_network)
has three-arm trials (A/B/C, A/C/D) and trials without the network reference (B/C, B/D).
Also: model files (``ipdma ite --save-model`` -> ``ipdma calculator``) and the refusals."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest

from ipdma.calculator import calculator_spec
from ipdma.cli import main
from ipdma.errors import ModelSpecificationError

from .conftest import as_text, fill_and_read, open_page
from .test_network_page import COVS, _check, _fit

TOL = 1e-9


def _patients(df, n, seed=11):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({c: rng.uniform(df[c].min(), df[c].max(), n) for c in COVS})


def _check_tau2(browser, df, model, n=100):
    """The per-patient tau^2 (and the trials' contrasts) of the page's last patients."""
    pats = _patients(df, n)
    page = fill_and_read(browser, [{c: as_text(v) for c, v in r.items()}
                                   for r in pats.to_dict("records")])
    py = model.predict(pats)
    tau = np.array([o["tau2"] if o.get("tau2") is not None else np.nan for o in page])
    if "tau2" in py.columns:
        assert np.max(np.abs(tau - py["tau2"].to_numpy())) <= TOL
        assert (py["tau2"] > 0).any()          # the DL estimate is not all zero here
    else:
        assert np.isnan(tau).all()
    per = model.network_.trial_contrasts(pats.to_numpy())
    for i in (0, n - 1):
        flat = np.concatenate(page[i]["per_trial"])
        want = per[per["patient"] == i]["ite"].to_numpy()
        assert np.max(np.abs(flat - want)) <= TOL


CASES = [
    # learner, pooler, heterogeneity, binary, scale
    ("ols", "weighted-aux-ols", "fixed", False, None),
    ("ols", "weighted-aux-ols", "DL", False, None),
    ("lasso", "weighted-aux-ols", "DL", False, None),
    ("ridge", "weighted-bootstrap", "DL", False, None),
    ("ols", "weighted-bootstrap", "fixed", False, None),
    ("logistic", "weighted-aux-ols", "DL", True, "rd"),
    ("logistic-ridge", "weighted-aux-ols", "fixed", True, "rd"),
    ("logistic", "weighted-bootstrap", "DL", True, "logor"),
    ("bayes-lm", "weighted-aux-ols", "DL", False, None),
    # the Gibbs sampler of every trial and contrast takes ~45 s on a loaded machine
    pytest.param("bayes-lasso", "weighted-aux-ols", "fixed", False, None,
                 marks=pytest.mark.slow),
]


@pytest.mark.parametrize("learner,pooler,het,binary,scale", CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[2]}-{c[4] or 'cont'}" for c in
                              (getattr(c, "values", c) for c in CASES)])
def test_weighted_network_page_matches_predict(browser, tmp_path, learner, pooler, het,
                                               binary, scale):
    if learner == "bayes-lm":
        pytest.importorskip("numpyro")
    kw = {"pooler_options": {"heterogeneity": het}}
    if scale is not None:
        kw["scale"] = scale
    if pooler == "weighted-bootstrap":
        kw["n_boot"] = 30
    df, m = _fit(learner, pooler, binary=binary, **kw)
    name = f"net_w_{learner}_{pooler}_{het}"
    path, py = _check(browser, tmp_path, df, m, name, n=100)
    if het == "DL":
        assert any(c.startswith("pi_low_") for c in py.columns)
    _check_tau2(browser, df, m)
    assert path.stat().st_size < 300_000


def test_weighted_network_model_file_through_the_cli(browser, tmp_path, capsys):
    """`ipdma ite --save-model` on a network with a weighted pooler, then
    `ipdma calculator MODEL.json`: the page gives the loaded model's predictions."""
    from ipdma.serialize import load_model

    df, _ = _fit()
    data = tmp_path / "net.csv"
    df.to_csv(data, index=False)
    model = tmp_path / "net.json"
    rc = main(["ite", str(data), "--outcome", "y", "--trial", "trial", "--treatment",
               "treatment", "--covariates", ",".join(COVS), "--learner", "lasso",
               "--pooler", "weighted-aux-ols", "--heterogeneity", "DL",
               "--out", str(tmp_path / "run"), "--save-model", str(model), "--no-plots"])
    assert rc == 0, capsys.readouterr().err
    out = tmp_path / "net.html"
    rc = main(["calculator", str(model), "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    spec = json.loads(re.search(r'id="ipdma-spec">(.*?)</script>', out.read_text(),
                                re.S).group(1))
    assert spec["kind"] == "ite-network" and spec["model"]["pooling"] == \
        {"source": "aux-ols", "heterogeneity": "DL"}
    loaded = load_model(model)
    open_page(browser, out)
    pats = _patients(df, 100, seed=5)
    page = fill_and_read(browser, [{c: as_text(v) for c, v in r.items()}
                                   for r in pats.to_dict("records")])
    py = loaded.predict(pats)
    trts = list(loaded.treatments_)
    for i, o in enumerate(page):
        assert o["ok"] and o["recommended"] == py["best_treatment"].iloc[i]
        for k, t in enumerate(trts):
            assert abs(o["columns"]["p_best"][k] - py[f"p_best_{t}"].iloc[i]) <= TOL
            if k:
                for stem in ("ite", "se", "ci_low", "ci_high", "pi_low", "pi_high"):
                    assert abs(o["columns"][stem][k] - py[f"{stem}_{t}_vs_A"].iloc[i]) <= TOL
        assert abs(o["tau2"] - py["tau2"].iloc[i]) <= TOL


def test_weighted_network_session_and_file_specs_agree(tmp_path):
    from ipdma.serialize import load_model, save_model

    _df, m = _fit("ridge", "weighted-bootstrap", n_boot=20)
    save_model(m, tmp_path / "m.json")
    a = calculator_spec(m)
    b = calculator_spec(load_model(tmp_path / "m.json"))
    assert a["model"]["trials"] == b["model"]["trials"]
    assert a["model"]["pbest"] == b["model"]["pbest"]


def test_weighted_network_refusals():
    # native machine-learning fit (not a linear predictor)
    from sklearn.linear_model import LinearRegression

    df0, m = _fit("sklearn-t", "weighted-aux-ols",
                  learner_options={"estimator": LinearRegression()})
    with pytest.raises(ModelSpecificationError, match=r"Exportable for networks.*'lasso'"):
        calculator_spec(m, data=df0)
    # bootstrap weights on the risk-difference scale
    df, m = _fit("logistic", "weighted-bootstrap", binary=True, scale="rd", n_boot=10)
    with pytest.raises(ModelSpecificationError, match="risk-difference scale"):
        calculator_spec(m, data=df)
    # bootstrap refits reduced to predictions at the fit's X_query
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from ipdma.ite import TwoStageITE

        m = TwoStageITE("ridge", "weighted-bootstrap", random_state=7, n_boot=10).fit(
            df0, trial="trial", treatment="treatment", outcome="y", covariates=COVS,
            X_query=df0[COVS].iloc[:5])
    with pytest.raises(ModelSpecificationError, match="X_query"):
        calculator_spec(m, data=df0)


def test_weighted_network_xgboost_page_matches_predict(browser, tmp_path):
    """Native XGBoost S-learner per trial (trees as data, arm dummies as features,
    float32 as XGBoost predicts) with weighted-aux-ols and DL tau^2."""
    pytest.importorskip("xgboost")
    df, m = _fit("xgboost", "weighted-aux-ols", pooler_options={"heterogeneity": "DL"},
                 learner_options={"max_depth": (2, 3), "eta": (0.3,), "nrounds": (30, 60),
                                  "nfold": 3})
    assert m.network_stage1_ == "native"
    path, _py = _check(browser, tmp_path, df, m, "net_w_xgboost", n=100)
    _check_tau2(browser, df, m)
    assert "trees" in calculator_spec(m, data=df)["model"]["trials"][0]["est"]
    assert path.stat().st_size < 300_000


def test_weighted_network_refusal_through_the_cli(tmp_path, capsys):
    """A network model whose per-trial fits cannot be exported (XGBoost on a binary
    outcome): `ipdma calculator` exits 2 with the exportable set-ups, no traceback."""
    pytest.importorskip("xgboost")
    from ipdma.serialize import save_model

    _df, m = _fit("xgboost", "weighted-aux-ols", binary=True,
                  learner_options={"max_depth": (2,), "eta": (0.3,), "nrounds": (20,),
                                   "nfold": 3})
    with pytest.raises(ModelSpecificationError, match="Exportable for networks"):
        calculator_spec(m)
    save_model(m, tmp_path / "m.json")
    rc = main(["calculator", str(tmp_path / "m.json"), "--out", str(tmp_path / "c.html")])
    err = capsys.readouterr().err
    assert rc == 2 and "\nerror: " in err and "Exportable for networks" in err
    assert "Traceback" not in err and not (tmp_path / "c.html").exists()
