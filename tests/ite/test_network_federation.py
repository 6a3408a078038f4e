"""Multi-arm site summaries of a treatment network: pooling the files (JSON/npz) equals
pooling in one process; the ``ipdma pool`` and ``ipdma ite --export-sites`` CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ipdma.cli import main
from ipdma.datasets import make_ite_network
from ipdma.errors import DataError, ModelSpecificationError
from ipdma.ite import (
    NetworkSiteSummary,
    TwoStageITE,
    fit_network_site,
    pool_sites,
    read_site_summary,
    trial_seeds,
)

COV = ["x1", "x2", "x3", "x4"]
METHODS = [("ols", "mvma", {"method": "reml"}), ("ols", "mvma", {"method": "fixed"}),
           ("ols", "weighted-aux-ols", {"heterogeneity": "DL"}),
           ("ols", "weighted-bootstrap", {}), ("lasso", "weighted-aux-ols", {})]


@pytest.fixture(scope="module")
def sim():
    return make_ite_network(random_state=5, n_test=40, n_per_trial=(120, 200))


def _numeric(df):
    return df.drop(columns=["best_treatment"]).to_numpy(float)


@pytest.mark.parametrize("learner,pooler,opts", METHODS)
@pytest.mark.parametrize("fmt", ["json", "npz"])
def test_pooling_site_files_equals_one_process(sim, tmp_path, learner, pooler, opts, fmt):
    Xt = sim.test[COV]
    model = TwoStageITE(learner, pooler, pooler_options=opts, n_boot=20,
                        random_state=7).fit(sim.ipd())
    ref = model.predict(Xt)
    paths = model.export_sites(tmp_path, X_new=Xt, fmt=fmt)
    assert len(paths) == len(model.trials_)
    got = pool_sites(paths[::-1], pooler, X_new=Xt, random_state=7, **opts)
    assert list(got.columns) == list(ref.columns)
    np.testing.assert_allclose(_numeric(got), _numeric(ref), atol=1e-10, rtol=0)
    assert (got["best_treatment"].to_numpy() == ref["best_treatment"].to_numpy()).all()
    # no patient rows in a file: its arrays are blocks or predictions at the query points
    s = read_site_summary(paths[0])
    assert isinstance(s, NetworkSiteSummary)
    n_rows = int(s.n)
    for a in ("theta", "cov", "X_query", "ite", "ite_cov"):
        v = getattr(s, a)
        assert v is None or v.shape[0] != n_rows


def test_summary_contents_multi_arm_joint_covariance(sim, tmp_path):
    model = TwoStageITE("ols", "mvma", random_state=1).fit(sim.ipd())
    s = model.site_summaries()[0]                       # trial 1: A, B, C
    assert s.arms == ["A", "B", "C"] and s.contrasts == ["B_vs_A", "C_vs_A"]
    assert s.theta.shape == (2, 5) and s.cov.shape == (10, 10)
    assert np.abs(s.cov[:5, 5:]).max() > 0               # contrasts of one trial covary
    assert s.info["treatments"] == ["A", "B", "C", "D"]
    back = read_site_summary(s.save(tmp_path / "s.json"))
    assert back.arms == s.arms and back.n_arm == s.n_arm
    assert np.array_equal(back.cov, s.cov) and np.array_equal(back.theta, s.theta)
    meta = json.loads((tmp_path / "s.json").read_text())
    assert meta["format"] == "ipdma-ite-network-site-summary" and meta["version"] == 1
    meta["version"] = 99
    (tmp_path / "new.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="format version 99"):
        read_site_summary(tmp_path / "new.json")


def test_fit_network_site_at_each_site_equals_one_process(sim):
    """Each site fits alone (its own rows, seed trial_seeds(s, K)[l])."""
    Xt = sim.test[COV]
    model = TwoStageITE("lasso", "weighted-aux-ols", random_state=3).fit(sim.ipd())
    ref = model.predict(Xt)
    seeds = trial_seeds(3, len(model.trials_))
    sums = [fit_network_site(g[COV], g["treatment"], g["y"], trial=str(tr), learner="lasso",
                             pooler="weighted-aux-ols", X_query=Xt, random_state=seeds[i],
                             treatments=model.treatments_)
            for i, (tr, g) in enumerate(sim.data.groupby("trial"))]
    got = pool_sites(sums, "weighted-aux-ols", random_state=3)
    np.testing.assert_allclose(_numeric(got), _numeric(ref), atol=1e-10, rtol=0)
    # the network reference can be chosen at pooling: the same contrasts
    pairs = pool_sites(sums, "weighted-aux-ols", reference="C", pairs="all", random_state=3)
    np.testing.assert_allclose(pairs["ite_B_vs_C"],
                               ref["ite_B_vs_A"] - ref["ite_C_vs_A"], atol=1e-10)


def test_network_site_errors(sim):
    model = TwoStageITE("ols", "mvma", random_state=1).fit(sim.ipd())
    sums = model.site_summaries()
    with pytest.raises(ModelSpecificationError, match="needs predicted contrasts"):
        pool_sites(sums, "weighted-bootstrap", X_new=sim.test[COV])
    with pytest.raises(ModelSpecificationError, match="query points"):
        TwoStageITE("lasso", "weighted-aux-ols", random_state=1).fit(
            sim.ipd()).site_summaries()
    with pytest.raises(DataError, match="one arm only"):
        fit_network_site(np.zeros((20, 1)), ["A"] * 20, np.zeros(20), trial="x")


def _cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_cli_export_and_pool_network_sites(sim, tmp_path, capsys):
    sim.data.to_csv(tmp_path / "train.csv", index=False)
    sim.test[["id", *COV]].to_csv(tmp_path / "new.csv", index=False)
    base = ["--trial", "trial", "--treatment", "treatment", "--outcome", "y",
            "--covariates", ",".join(COV)]
    _cli(capsys, "ite", tmp_path / "train.csv", *base, "--predict", tmp_path / "new.csv",
         "--id", "id", "--export-sites", "--no-plots", "--out", tmp_path / "fit")
    fitted = pd.read_csv(tmp_path / "fit" / "predictions.csv")
    out = _cli(capsys, "pool", tmp_path / "fit" / "sites", "--predict", tmp_path / "new.csv",
               "--id", "id", "--out", tmp_path / "pooled", "--json")
    pooled = pd.read_csv(tmp_path / "pooled" / "predictions.csv")
    assert list(pooled.columns) == list(fitted.columns)
    num = [c for c in fitted.columns if c != "best_treatment"]
    np.testing.assert_allclose(pooled[num], fitted[num], atol=1e-10, rtol=0)
    assert (pooled["best_treatment"] == fitted["best_treatment"]).all()
    payload = json.loads(out)
    assert payload["treatments"] == ["A", "B", "C", "D"] and payload["reference"] == "A"
    assert (tmp_path / "pooled" / "predictions_all_pairs.csv").is_file()
    # CLI words for a missing --predict
    code = main(["pool", str(tmp_path / "fit" / "sites"), "--out", str(tmp_path / "p2")])
    _, err = capsys.readouterr()
    assert code == 2 and "--predict NEW.csv" in err


def test_cli_compare_on_a_network(sim, tmp_path, capsys):
    sim.data.to_csv(tmp_path / "train.csv", index=False)
    base = ["--trial", "trial", "--treatment", "treatment", "--outcome", "y",
            "--covariates", ",".join(COV)]
    _cli(capsys, "ite", tmp_path / "train.csv", *base, "--compare", "--compare-methods",
         "ols+mvma,ols+weighted-aux-ols", "--no-plots", "--out", tmp_path / "cmp")
    tab = pd.read_csv(tmp_path / "cmp" / "comparison.csv", index_col=0)
    per = pd.read_csv(tmp_path / "cmp" / "comparison_contrasts.csv")
    assert sorted(tab.index) == ["ols+mvma", "ols+weighted-aux-ols"]
    assert {"method", "contrast", "n", "tau_risk", "calib_slope"} <= set(per.columns)


def test_model_pooled_from_site_summaries_reports_its_patients(sim, tmp_path):
    """summary() of the network model rebuilt from site summaries: the patients counted
    in the summaries (was 0), or "not available" when a summary carries no count."""
    from ipdma.ite._network_federation import pool_network_sites

    model = TwoStageITE("ols", "weighted-aux-ols", random_state=7).fit(sim.ipd())
    sums = [read_site_summary(p) for p in model.export_sites(tmp_path, fmt="json")]
    pooled = pool_network_sites(sums, "weighted-aux-ols")
    info = pooled.summary().info
    assert info["patients"] == len(sim.data) == sum(int(s.n) for s in sums)
    assert info["patients"] == model.summary().info["patients"]
    assert pooled.summary().tables["Stage 1 (per trial)"]["n"].tolist() == \
        model.summary().tables["Stage 1 (per trial)"]["n"].tolist()
    for s in sums:
        s.n, s.n_arm = 0, {}
    info = pool_network_sites(sums, "weighted-aux-ols").summary().info
    assert info["patients"] == "not available (site summaries)"
