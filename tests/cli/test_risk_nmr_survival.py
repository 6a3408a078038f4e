"""``ipdma risk-nmr`` / ``ipdma describe`` with ``--time COL --event COL`` (time to event):
end to end, and every bad input a one-line ``error:`` with exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ipdma.cli import main
from ipdma.datasets import make_survival_network

BASE = ["--trial", "trial", "--treatment", "treatment", "--time", "time", "--event", "event"]


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    d = tmp_path_factory.mktemp("surv")
    df = make_survival_network(700, random_state=8).data
    df.to_csv(d / "surv.csv", index=False)
    df.assign(event=np.where(df.event == 1, "dead", "alive")).to_csv(d / "labels.csv",
                                                                      index=False)
    bad = df.copy()
    bad.loc[3, "time"] = -1.0
    bad.to_csv(d / "negtime.csv", index=False)
    df.assign(time=df.time.where(df.index != 5)).to_csv(d / "misstime.csv", index=False)
    df.assign(event=df.event * 2).to_csv(d / "event2.csv", index=False)
    df.assign(event=np.where((df.trial == "T4") & (df.treatment == "B"), 0, df.event)).to_csv(
        d / "noevents.csv", index=False)
    df.assign(score=0.3 * df.x1 + 0.2 * df.x4).to_csv(d / "scored.csv", index=False)
    return d


def test_risk_nmr_time_to_event_end_to_end(d, tmp_path, capsys):
    capsys.readouterr()
    out = tmp_path / "nmr"
    assert main(["risk-nmr", str(d / "surv.csv"), *BASE, "--covariates", "x1,x2,x3,x4",
                 "--engine", "ml", "--bootstrap", "5", "--horizon", "2", "--tau", "3",
                 "--seed", "1", "--out", str(out), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["stage2"]["outcome"] == "time to event"
    assert payload["stage2"]["horizon"] == 2 and payload["stage2"]["tau"] == 3
    est = pd.DataFrame(payload["stage2"]["estimates"]).set_index("parameter")
    assert est.index.tolist() == ["d[A]", "d[B]", "d[C]", "g0", "gamma[A]", "gamma[B]",
                                  "gamma[C]"]
    for f in ("risk_model.json", "stage1_coefficients.csv", "stage1_validation.csv",
              "stage1_iecv.csv", "stage2_estimates.csv", "predictions_by_risk.csv",
              "predictions_by_patient.csv", "risk_scores.csv", "survival.png", "benefit.png",
              "rmst.png", "hr.png", "which.png", "index.html"):
        assert (out / f).is_file(), f
    pat = pd.read_csv(out / "predictions_by_patient.csv")
    assert len(pat) == 700 * 4
    assert {"surv", "surv_diff", "rmst", "rmst_diff", "hr", "p_best"} <= set(pat.columns)
    # the saved Cox stage-1 model is reused: same stage-2 estimates
    capsys.readouterr()
    assert main(["risk-nmr", str(d / "surv.csv"), *BASE, "--risk-model",
                 str(out / "risk_model.json"), "--engine", "ml", "--out",
                 str(tmp_path / "again"), "--json"]) == 0
    again = pd.DataFrame(json.loads(capsys.readouterr().out)["stage2"]["estimates"])
    np.testing.assert_allclose(again["estimate"], est["estimate"], rtol=1e-10)
    # and `ipdma risk-score` scores a file with it: the same scores as the run
    assert main(["risk-score", str(out / "risk_model.json"), str(d / "surv.csv"), "--out",
                 str(tmp_path / "scored.csv")]) == 0
    s = pd.read_csv(tmp_path / "scored.csv")
    r = pd.read_csv(out / "risk_scores.csv")
    np.testing.assert_allclose(s["risk_lp"], r["risk_lp"], rtol=1e-12)


def test_risk_nmr_time_to_event_with_score_and_labels(d, tmp_path, capsys):
    capsys.readouterr()
    assert main(["risk-nmr", str(d / "scored.csv"), *BASE, "--risk-score", "score",
                 "--engine", "ml", "--out", str(tmp_path / "a"), "--json"]) == 0
    a = pd.DataFrame(json.loads(capsys.readouterr().out)["stage2"]["estimates"])
    # event coded dead/alive gives the same fit
    lab = pd.read_csv(d / "labels.csv").assign(score=pd.read_csv(d / "scored.csv")["score"])
    lab.to_csv(tmp_path / "lab.csv", index=False)
    assert main(["risk-nmr", str(tmp_path / "lab.csv"), *BASE, "--risk-score", "score",
                 "--engine", "ml", "--out", str(tmp_path / "b"), "--json"]) == 0
    b = pd.DataFrame(json.loads(capsys.readouterr().out)["stage2"]["estimates"])
    np.testing.assert_allclose(a["estimate"], b["estimate"], rtol=1e-12)
    # Weibull PH stage 2
    assert main(["risk-nmr", str(d / "scored.csv"), *BASE, "--risk-score", "score",
                 "--engine", "ml", "--survival-model", "weibull", "--out",
                 str(tmp_path / "w"), "--json"]) == 0
    w = json.loads(capsys.readouterr().out)["stage2"]
    assert w["model"] == "weibull"
    np.testing.assert_allclose(pd.DataFrame(w["estimates"])["estimate"], a["estimate"],
                               atol=0.15)


def test_describe_time_to_event(d, tmp_path, capsys):
    capsys.readouterr()
    out = tmp_path / "desc"
    assert main(["describe", str(d / "surv.csv"), *BASE, "--out", str(out), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    arms = pd.DataFrame(payload["arms"])
    assert {"n", "events", "censored", "prop_censored", "median_followup"} <= set(arms.columns)
    df = pd.read_csv(d / "surv.csv")
    g = df.groupby(["trial", "treatment"])["event"]
    assert arms["events"].tolist() == g.sum().tolist()
    assert (arms["censored"] == arms["n"] - arms["events"]).all()
    assert (out / "km.png").is_file() and payload["files"]["km_plot"].endswith("km.png")
    # human output
    assert main(["describe", str(d / "surv.csv"), *BASE]) == 0
    assert "median_followup" in capsys.readouterr().out


CASES = [
    ("time-without-event", ["risk-nmr", "{d}/surv.csv", "--trial", "trial", "--treatment",
                            "treatment", "--time", "time", "--risk-score", "x1", "--out",
                            "{out}"], ["--event"]),
    ("no-outcome-no-time", ["describe", "{d}/surv.csv", "--trial", "trial", "--treatment",
                            "treatment"], ["--outcome", "--time"]),
    ("time-column-absent", ["describe", "{d}/surv.csv", "--trial", "trial", "--treatment",
                            "treatment", "--time", "T", "--event", "event"], ["--time", "'T'"]),
    ("outcome-and-time", ["describe", "{d}/surv.csv", *BASE, "--outcome", "event"],
     ["--outcome"]),
    ("stage1-pmle", ["risk-nmr", "{d}/surv.csv", *BASE, "--covariates", "x1", "--stage1",
                     "pmle", "--out", "{out}"], ["--stage1 pmle", "cox"]),
    ("random-effects-ml", ["risk-nmr", "{d}/surv.csv", *BASE, "--risk-score", "x1",
                           "--effects", "random", "--engine", "ml", "--out", "{out}"],
     ["--effects random", "--engine bayes"]),
    ("horizon-binary", ["risk-nmr", "{d}/surv.csv", "--trial", "trial", "--treatment",
                        "treatment", "--outcome", "event", "--risk-score", "x1", "--horizon",
                        "2", "--out", "{out}"], ["--horizon", "--time"]),
    ("negative-time", ["describe", "{d}/negtime.csv", *BASE], ["'time'", "negative"]),
    ("missing-time", ["risk-nmr", "{d}/misstime.csv", *BASE, "--risk-score", "x1", "--engine",
                      "ml", "--out", "{out}"], ["'time'", "missing"]),
    ("event-not-01", ["describe", "{d}/event2.csv", *BASE], ["'event'", "0 (censored) / 1"]),
    ("arm-without-events", ["risk-nmr", "{d}/noevents.csv", *BASE, "--risk-score", "x1",
                            "--engine", "ml", "--out", "{out}"], ["no events", "'T4'", "'B'"]),
    ("horizon-beyond-followup", ["risk-nmr", "{d}/surv.csv", *BASE, "--risk-score", "x1",
                                 "--engine", "ml", "--horizon", "40", "--out", "{out}"],
     ["horizon 40", "trial"]),
    ("survival-model-binary", ["risk-nmr", "{d}/surv.csv", "--trial", "trial", "--treatment",
                               "treatment", "--outcome", "event", "--risk-score", "x1",
                               "--survival-model", "cox", "--out", "{out}"],
     ["--survival-model", "--time"]),
    ("bad-horizon", ["risk-nmr", "{d}/surv.csv", *BASE, "--risk-score", "x1", "--engine", "ml",
                     "--tau", "-1", "--out", "{out}"], ["--tau"]),
]


@pytest.mark.parametrize("case_id,argv,needles", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_a_clean_error(case_id, argv, needles, d, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("IPDMA_TRACEBACK", "1")
    args = [a.replace("{d}", str(d)).replace("{out}", str(tmp_path / "out")) for a in argv]
    capsys.readouterr()
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, (case_id, err)
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
