"""``--save-model`` on time-to-event and treatment-network runs of ``ipdma risk-nmr``,
``ipdma ite`` and ``ipdma subgroups``, then ``ipdma calculator`` on the files: the page's
spec equals the one built in the session from the loaded model."""

from __future__ import annotations

import json
import re

import pytest

from ipdma.cli import main


def _spec(path):
    html = path.read_text()
    return json.loads(re.search(r'id="ipdma-spec">(.*?)</script>', html, re.S).group(1))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from ipdma.datasets import make_ite_network, make_survival_network, make_survival_trials

    d = tmp_path_factory.mktemp("cli")
    make_survival_network(900, random_state=3).data.to_csv(d / "sn.csv", index=False)
    make_survival_trials(random_state=1).data.to_csv(d / "st.csv", index=False)
    make_ite_network(random_state=5).data.to_csv(d / "net.csv", index=False)
    return d


def test_risk_nmr_survival_save_model_and_calculator(files, tmp_path, capsys):
    model = tmp_path / "rn.json"
    rc = main(["risk-nmr", str(files / "sn.csv"), "--trial", "trial", "--treatment",
               "treatment", "--time", "time", "--event", "event", "--covariates",
               "x1,x2,x3,x4", "--bootstrap", "0", "--engine", "ml", "--horizon", "2",
               "--tau", "3", "--out", str(tmp_path / "rn"), "--save-model", str(model)])
    assert rc == 0, capsys.readouterr().err
    out = tmp_path / "rn.html"
    rc = main(["calculator", str(model), "--out", str(out), "--tau", "2.5"])
    assert rc == 0, capsys.readouterr().err
    spec = _spec(out)
    assert spec["family"] == "survival" and spec["kind"] == "risk-nmr"
    assert spec["model"]["horizon"] == 2.0 and spec["model"]["tau"] == 2.5
    assert [i["name"] for i in spec["inputs"]] == ["x1", "x2", "x3", "x4"]
    assert "stage1" in spec["model"]


def test_risk_nmr_survival_bayes_save_model_and_calculator(files, tmp_path, capsys):
    pytest.importorskip("numpyro")
    model = tmp_path / "rb.json"
    rc = main(["risk-nmr", str(files / "sn.csv"), "--trial", "trial", "--treatment",
               "treatment", "--time", "time", "--event", "event", "--covariates",
               "x1,x2,x3,x4", "--bootstrap", "0", "--engine", "bayes", "--horizon", "2",
               "--tau", "3", "--out", str(tmp_path / "rb"), "--save-model", str(model)])
    assert rc == 0, capsys.readouterr().err
    out = tmp_path / "rb.html"
    capsys.readouterr()
    rc = main(["calculator", str(model), "--out", str(out)])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    spec = _spec(out)
    m = spec["model"]
    assert m["engine"] == "bayes" and m["survival_model"] == "cox"
    assert m["horizon"] == 2.0 and m["tau"] == 3.0 and m["draws"]["n"] == 2000
    # the per-draw RMST grid does not fit: said on the page and on the console
    assert m["rmst"] is False and "RMST is not available" in m["rmst_omitted"]
    assert any("RMST is not available" in n for n in spec["notes"])
    assert "RMST is not available" in cap.err
    assert out.stat().st_size < 300_000
    # another horizon than the one the file keeps: refused with the fix
    rc = main(["calculator", str(model), "--out", str(tmp_path / "x.html"), "--horizon",
               "1.5"])
    err = capsys.readouterr().err
    assert rc == 2 and "horizon 2 and tau 3 only" in err and "--horizon T --tau T" in err


def test_ite_survival_and_network_save_model_and_calculator(files, tmp_path, capsys):
    for name, args in [
        ("surv", [str(files / "st.csv"), "--time", "time", "--event", "event",
                  "--learner", "cox", "--horizon", "1"]),
        ("net", [str(files / "net.csv"), "--outcome", "y", "--learner", "ols"])]:
        model = tmp_path / f"{name}.json"
        rc = main(["ite", *args, "--trial", "trial", "--treatment", "treatment",
                   "--covariates", "x1,x2,x3,x4", "--out", str(tmp_path / name),
                   "--save-model", str(model), "--no-plots"])
        assert rc == 0, capsys.readouterr().err
        out = tmp_path / f"{name}.html"
        rc = main(["calculator", str(model), "--out", str(out)])
        assert rc == 0, capsys.readouterr().err
        spec = _spec(out)
        if name == "surv":
            assert spec["family"] == "survival" and spec["model"]["scale"] == "survdiff"
        else:
            assert spec["kind"] == "ite-network" and spec["treatments"] == ["A", "B", "C",
                                                                          "D"]
    rc = main(["calculator", str(tmp_path / "net.json"), "--out", str(tmp_path / "x.html"),
               "--horizon", "2"])
    assert rc == 2 and "--horizon is for a time-to-event risk-nmr" in capsys.readouterr().err


def test_subgroups_survival_save_model_and_calculator(files, tmp_path, capsys):
    model = tmp_path / "sg.json"
    rc = main(["subgroups", str(files / "st.csv"), "--trial", "trial", "--treatment",
               "treatment", "--time", "time", "--event", "event", "--partition-by",
               "x1,x2,x3,x4", "--method", "mob", "--out", str(tmp_path / "sg"),
               "--save-model", str(model)])
    assert rc == 0, capsys.readouterr().err
    out = tmp_path / "sg.html"
    assert main(["calculator", str(model), "--out", str(out)]) == 0
    spec = _spec(out)
    assert spec["family"] == "survival"
    assert any(o["keys"][0] == "hr" for o in spec["outputs"])
