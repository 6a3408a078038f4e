"""``ipdma nma`` on the reference case nma_aggregate_smoking: the numbers printed as JSON
equal the R reference (README tolerances), the files are written, and user errors exit
with code 2 in CLI words."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from ipdma.cli import main

KEY = {"common": "common", "DL": "random_DL", "REML": "random_REML", "ML": "random_ML"}


@pytest.fixture
def smoking(ref_case):
    case = ref_case("nma_aggregate_smoking")
    return case.expected, case.path / "dat_hasselblad1998.csv", case


def run(capsys, *argv):
    capsys.readouterr()
    code = main(["nma", *map(str, argv)])
    out = capsys.readouterr()
    return code, out


@pytest.mark.parametrize("method", ["common", "DL", "REML", "ML"])
def test_cli_matches_reference(smoking, tmp_path, capsys, method):
    exp, path, case = smoking
    code, out = run(capsys, path, "--study", "study", "--treatment", "trt", "--events", "xi",
                    "--n", "ni", "--reference", "no_contact", "--small-values", "bad",
                    "--treatment-order", ",".join(exp["data"]["treatments"]),
                    "--method", method, "--out", tmp_path, "--json")
    assert code == 0, out.err
    pay = json.loads(out.out)
    e = exp[KEY[method]]
    tol = {"rtol": 1e-9} if method in ("common", "DL") else {"rtol": 0, "atol": 1e-6}
    est = pd.DataFrame(pay["estimates"]).set_index("treatment").loc[e["coef_names"]]
    assert_allclose(est["estimate"], e["coef"], **tol)
    assert_allclose(est["se"], e["se"], **tol)
    if method != "common":
        assert_allclose(pay["tau2"], e["tau2"], **tol)
    ps = pd.DataFrame(pay["pscores"]).set_index("treatment")["pscore"]
    assert_allclose(ps.loc[list(e["pscore"])], list(e["pscore"].values()),
                    **({"rtol": 1e-9} if method in ("common", "DL") else {"atol": 1e-6}))
    lg = pd.DataFrame(pay["league"]).set_index(["treat1", "treat2"])
    ref = case.csv("league.csv")
    ref = ref[ref.model == KEY[method]].set_index(["treat1", "treat2"])
    for (t1, t2), row in ref.iterrows():
        if (t1, t2) in lg.index:
            ours, sign = lg.loc[(t1, t2)], 1.0
        else:
            ours, sign = lg.loc[(t2, t1)], -1.0
        assert_allclose(sign * ours["estimate"], row["TE"], **tol)
        assert_allclose(ours["se"], row["seTE"], **tol)
        if method != "common":
            lo, hi = (ours["pi_lower"], ours["pi_upper"]) if sign > 0 else (
                -ours["pi_upper"], -ours["pi_lower"])
            assert_allclose([lo, hi], [row["pred_lower"], row["pred_upper"]], **tol)
    het = pd.DataFrame(pay["heterogeneity"]).set_index("source")
    q = exp["Q_decomposition"]
    assert_allclose(het.loc[["total", "within designs", "between designs",
                             "between designs (random)"], "Q"],
                    [q["total"]["Q"], q["within_designs"]["Q"], q["between_designs"]["Q"],
                     q["between_designs_random"]["Q"]], rtol=1e-9)
    assert_allclose([pay["I2"]["I2"], pay["I2"]["lower"], pay["I2"]["upper"]],
                    [exp["heterogeneity"][k] for k in ("I2", "I2_lower", "I2_upper")],
                    rtol=1e-9)
    if method in ("common", "DL"):
        ns = pd.DataFrame(pay["netsplit"]).set_index("comparison")
        rn = pd.DataFrame(exp["netsplit_common" if method == "common" else
                              "netsplit_random_DL"]).set_index("comparison")
        ns = ns.loc[rn.index]
        for col in ("direct", "indirect", "diff", "pval"):
            assert_allclose(ns[col].to_numpy(float), rn[col].to_numpy(float), rtol=1e-9)
    for f in ("estimates.csv", "league.csv", "league_matrix.csv", "pscores.csv",
              "heterogeneity.csv", "netsplit.csv", "contrasts.csv", "forest.png",
              "network.png", "index.html"):
        assert (tmp_path / f).is_file(), f
    csv = pd.read_csv(tmp_path / "estimates.csv").set_index("treatment").loc[e["coef_names"]]
    assert_allclose(csv["estimate"], e["coef"], **tol)


def test_cli_human_output_and_contrast_input(smoking, tmp_path, capsys):
    _, path, _ = smoking
    code, out = run(capsys, path, "--study", "study", "--treatment", "trt", "--events", "xi",
                    "--n", "ni", "--reference", "no_contact", "--out", tmp_path / "a")
    assert code == 0
    assert "Random-effects (DL) network meta-analysis" in out.out
    assert "between designs" in out.out
    # contrast rows from the contrasts.csv it wrote: same tau^2 and estimates
    c = pd.read_csv(tmp_path / "a" / "contrasts.csv")
    two = c[~c.study.isin([2, 9])].assign(se=lambda d: np.sqrt(d.vi))
    two.to_csv(tmp_path / "two.csv", index=False)
    code, out = run(capsys, tmp_path / "two.csv", "--study", "study", "--treatment",
                    "treatment", "--treatment2", "baseline", "--te", "yi", "--se", "se",
                    "--reference", "no_contact", "--method", "REML", "--out", tmp_path / "b",
                    "--json")
    assert code == 0, out.err
    assert json.loads(out.out)["n_contrasts"] == len(two)


@pytest.mark.parametrize("extra,message", [
    (["--events", "xj", "--n", "ni"], "--events column 'xj'"),
    (["--events", "xi"], "--events needs --n"),
    (["--events", "xi", "--n", "ni", "--mean", "xi"], "exactly one kind"),
    (["--events", "xi", "--n", "ni", "--measure", "MD"], "--measure MD does not fit"),
    (["--events", "xi", "--n", "ni", "--reference", "placebo"], "--reference 'placebo'"),
    (["--events", "xi", "--n", "ni", "--tau2", "-1"], "--tau2"),
])
def test_cli_errors(smoking, tmp_path, capsys, extra, message):
    _, path, _ = smoking
    code, out = run(capsys, path, "--study", "study", "--treatment", "trt", *extra, "--out",
                    tmp_path)
    assert code == 2
    assert out.err.startswith("error: ") and message in out.err
    assert "Traceback" not in out.err


def test_cli_missing_file(tmp_path, capsys):
    code, out = run(capsys, tmp_path / "nope.csv", "--study", "s", "--treatment", "t",
                    "--te", "y", "--se", "s", "--out", tmp_path)
    assert code == 2 and "does not exist" in out.err
