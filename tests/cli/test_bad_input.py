"""Every CLI subcommand through a table of bad inputs (issue 13).

Each case must end with exit code 2, a single ``error:`` line on stderr naming
the problem, no traceback, and no output folder/file left behind.  The runs
are in-process through :func:`ipdma.cli.main` with ``IPDMA_TRACEBACK=1``, so
any uncaught exception fails the test instead of being reported as an
internal error.  A second harness scans every subcommand's options with
malformed values and every data-reading subcommand with malformed files.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ipdma.cli import build_parser, main

# --------------------------------------------------------------------------- data


def _binary_frame(n_per_trial: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for trial in ["S1", "S2", "S3"]:
        n = n_per_trial
        age = rng.integers(20, 70, n)
        rows.append(pd.DataFrame({
            "STUDY": trial, "PID": [f"{trial}-{i:03d}" for i in range(n)],
            "ARM": np.where(np.arange(n) % 2 == 0, "PBO", "DMF"),
            "AGE": age, "SEX": rng.choice(["F", "M"], n),
            "Y": rng.integers(0, 2, n), "SCORE": rng.normal(size=n).round(3)}))
    return pd.concat(rows, ignore_index=True)


def _continuous_frame(seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 150
    df = pd.DataFrame({"trial": np.repeat(["T1", "T2", "T3"], n // 3),
                       "id": np.arange(1, n + 1),
                       "trt": np.tile([0, 1], n // 2),
                       "x1": rng.normal(size=n).round(3), "x2": rng.normal(size=n).round(3)})
    df["y"] = (df.x1 + df.trt * (1 + df.x2) + rng.normal(size=n)).round(3)
    return df


@pytest.fixture(scope="module")
def d(tmp_path_factory) -> Path:
    """A folder of good and bad input files shared by the cases."""
    root = tmp_path_factory.mktemp("badinput")
    b = _binary_frame()
    b.to_csv(root / "bin.csv", index=False)
    bad = b.astype({"AGE": object})
    bad.loc[[2, 16, 39], "AGE"] = "abc"
    bad.to_csv(root / "age_text.csv", index=False)
    three = b.copy()
    three.loc[:5, "Y"] = 2
    three.to_csv(root / "y012.csv", index=False)
    yt = b.astype({"Y": object})
    yt.loc[[7], "Y"] = "abc"
    yt.to_csv(root / "y_text.csv", index=False)
    sc = b.astype({"SCORE": object})
    sc.loc[[4, 9], "SCORE"] = "high"
    sc.to_csv(root / "score_text.csv", index=False)
    c = _continuous_frame()
    c.to_csv(root / "cont.csv", index=False)
    c[["id", "x1", "x2"]].iloc[:0].to_csv(root / "header_only.csv", index=False)
    c[["id", "x1", "x2"]].to_csv(root / "new.csv", index=False)
    (root / "not_json.json").write_text("this is not JSON\n")
    (root / "other.json").write_text(json.dumps({"format": "something-else", "a": 1}))
    (root / "a_file.txt").write_text("x\n")
    (root / "empty.csv").write_text("")
    (root / "garbage.csv").write_bytes(b"\x00\x01\x02\xff\xfe binary junk \x00\n\x00")
    (root / "sites_bad").mkdir()
    (root / "sites_bad" / "site_A.json").write_text(json.dumps({"format": "nope"}))
    (root / "sites_empty").mkdir()
    store = root / "store"
    store.mkdir()
    (store / "study.json").write_text(json.dumps({
        "seed": 42, "n_reps": 1, "methods": ["ols+mvma"],
        "scenarios": {"1": {"generator": "make_ite_continuous", "scenario": 1}}}))
    return root


BIN = ["--trial", "STUDY", "--treatment", "ARM", "--outcome", "Y"]
CONT = ["--trial", "trial", "--treatment", "trt", "--outcome", "y", "--covariates", "x1,x2"]

# (id, argv with {d} = data folder and {out} = a fresh output path, substrings of the error)
CASES = [
    # --- types decided once: text in a numeric covariate
    ("describe-text-in-numeric", ["describe", "{d}/age_text.csv", *BIN, "--covariates", "AGE,SEX",
                                  "--out", "{out}"], ["'AGE'", "'abc'", "rows 3, 17, 40"]),
    ("risk-nmr-text-in-numeric", ["risk-nmr", "{d}/age_text.csv", *BIN, "--covariates", "AGE,SEX",
                                  "--engine", "ml", "--out", "{out}"], ["'AGE'", "'abc'", "rows"]),
    ("subgroups-text-in-numeric", ["subgroups", "{d}/age_text.csv", *BIN, "--partition-by", "AGE",
                                   "--method", "mob", "--out", "{out}"], ["'AGE'", "'abc'"]),
    ("ite-text-in-numeric", ["ite", "{d}/age_text.csv", *BIN, "--covariates", "AGE",
                             "--out", "{out}"], ["'AGE'", "'abc'"]),
    ("categorical-not-a-covariate", ["describe", "{d}/bin.csv", *BIN, "--covariates", "AGE",
                                     "--categorical", "SEX"], ["--categorical", "SEX"]),
    ("ordered-unknown-level", ["describe", "{d}/bin.csv", *BIN, "--covariates", "SEX",
                               "--ordered", "SEX:F"], ["'M'", "levels"]),
    ("unknown-column", ["describe", "{d}/bin.csv", "--trial", "STUDYY", "--treatment", "ARM",
                        "--outcome", "Y"], ["--trial", "STUDYY"]),
    ("missing-file", ["describe", "{d}/nope.csv", *BIN], ["nope.csv", "does not exist"]),
    ("empty-file", ["describe", "{d}/empty.csv", *BIN], ["empty"]),
    ("id-column-missing", ["describe", "{d}/bin.csv", *BIN, "--id", "NOPE"], ["--id", "NOPE"]),
    # --- outcome
    ("risk-nmr-outcome-012", ["risk-nmr", "{d}/y012.csv", *BIN, "--covariates", "AGE",
                              "--engine", "ml", "--out", "{out}"], ["3 distinct values"]),
    ("outcome-text-cell", ["describe", "{d}/y_text.csv", *BIN], ["'Y'", "'abc'", "row 8"]),
    ("binary-outcome-type-012", ["describe", "{d}/y012.csv", *BIN, "--outcome-type", "binary"],
     ["3 distinct values", "--outcome-type continuous"]),
    # --- numeric options, checked when parsing
    ("ite-seed-negative", ["ite", "{d}/cont.csv", *CONT, "--seed", "-1", "--out", "{out}"],
     ["--seed", "0 or more"]),
    ("ite-n-jobs-0", ["ite", "{d}/cont.csv", *CONT, "--n-jobs", "0", "--out", "{out}"],
     ["--n-jobs"]),
    ("ite-n-boot-0", ["ite", "{d}/cont.csv", *CONT, "--n-boot", "0", "--out", "{out}"],
     ["--n-boot"]),
    ("ite-heterogeneity-unknown", ["ite", "{d}/cont.csv", *CONT, "--pooler", "weighted-aux-ols",
                                   "--heterogeneity", "XYZ", "--out", "{out}"],
     ["--heterogeneity", "'XYZ'"]),
    ("ite-learner-options-nfolds", ["ite", "{d}/cont.csv", *CONT, "--learner", "lasso",
                                    "--learner-options", '{"nfolds": 1}', "--out", "{out}"],
     ["--learner-options", "nfolds"]),
    ("ite-learner-options-not-json", ["ite", "{d}/cont.csv", *CONT, "--learner-options", "{x",
                                      "--out", "{out}"], ["--learner-options", "JSON"]),
    ("risk-nmr-bootstrap-negative", ["risk-nmr", "{d}/bin.csv", *BIN, "--covariates", "AGE",
                                     "--bootstrap", "-1", "--out", "{out}"], ["--bootstrap"]),
    ("risk-nmr-bootstrap-1", ["risk-nmr", "{d}/bin.csv", *BIN, "--covariates", "AGE",
                              "--bootstrap", "1", "--out", "{out}"], ["--bootstrap"]),
    ("risk-nmr-seed-text", ["risk-nmr", "{d}/bin.csv", *BIN, "--seed", "abc", "--out", "{out}"],
     ["--seed", "'abc'"]),
    ("subgroups-alpha", ["subgroups", "{d}/cont.csv", *CONT, "--partition-by", "x1",
                         "--alpha", "2", "--out", "{out}"], ["--alpha"]),
    ("subgroups-minsize-0", ["subgroups", "{d}/cont.csv", *CONT, "--partition-by", "x1",
                             "--minsize", "0", "--out", "{out}"], ["--minsize"]),
    ("subgroups-metamob-without-trial", ["subgroups", "{d}/cont.csv", "--treatment", "trt",
                                         "--outcome", "y", "--partition-by", "x1",
                                         "--out", "{out}"], ["--trial", "--method mob"]),
    ("subgroups-partition-unknown", ["subgroups", "{d}/cont.csv", *CONT, "--partition-by", "zz",
                                     "--out", "{out}"], ["--partition-by", "'zz'"]),
    ("duplicate-patient-ids", ["describe", "{d}/bin.csv", *BIN, "--patient-id", "AGE"],
     ["--patient-id column 'AGE'"]),
    ("simstudy-summarize-metric", ["simstudy", "summarize", "{d}/store", "--metric", "foo"],
     ["--metric", "'foo'"]),
    ("simstudy-scenarios-out-of-range", ["simstudy", "run", "--scenarios", "15-17",
                                         "--out", "{out}"], ["--scenarios", "17"]),
    ("simstudy-scenarios-zero", ["simstudy", "run", "--scenarios", "0", "--out", "{out}"],
     ["--scenarios"]),
    ("simstudy-n-bootstrap-negative", ["simstudy", "run", "--n-bootstrap", "-3",
                                       "--out", "{out}"], ["--n-bootstrap"]),
    ("simstudy-n-jobs-0", ["simstudy", "run", "--n-jobs", "0", "--out", "{out}"], ["--n-jobs"]),
    ("simstudy-reps-0", ["simstudy", "run", "--reps", "0", "--out", "{out}"], ["--reps"]),
    ("simstudy-other-design", ["simstudy", "run", "--scenarios", "2", "--methods", "ols+mvma",
                               "--reps", "1", "--out", "{d}/store"], ["--extend", "scenarios 2"]),
    ("simstudy-summarize-missing-store", ["simstudy", "summarize", "{d}/no_store"],
     ["no_store"]),
    ("simulate-scenario-17", ["simulate", "ite", "--scenario", "17", "--seed", "1",
                              "--out", "{out}.csv"], ["--scenario"]),
    ("simulate-seed-negative", ["simulate", "ms", "--seed", "-2", "--out", "{out}.csv"],
     ["--seed"]),
    ("demo-unknown-section", ["demo", "--only", "nope", "--out", "{out}"], ["nope"]),
    ("demo-seed-negative", ["demo", "--seed", "-1", "--out", "{out}"], ["--seed"]),
    # --- files
    ("out-is-a-file", ["ite", "{d}/cont.csv", *CONT, "--out", "{d}/a_file.txt"],
     ["--out", "a_file.txt", "existing file"]),
    ("out-not-writable", ["describe", "{d}/bin.csv", *BIN, "--out", "/proc/ipdma/out"],
     ["--out", "cannot be written"]),
    ("out-under-a-file", ["risk-nmr", "{d}/bin.csv", *BIN, "--covariates", "AGE",
                          "--out", "{d}/a_file.txt/sub"], ["--out", "is a file"]),
    ("simulate-out-is-folder", ["simulate", "ms", "--seed", "1", "--out", "{d}"],
     ["--out", "folder"]),
    ("predict-header-only", ["ite", "{d}/cont.csv", *CONT, "--predict", "{d}/header_only.csv",
                             "--out", "{out}"], ["--predict", "no rows"]),
    ("predict-missing-file", ["ite", "{d}/cont.csv", *CONT, "--predict", "{d}/nope.csv",
                              "--out", "{out}"], ["--predict", "nope.csv"]),
    ("risk-score-text", ["risk-nmr", "{d}/score_text.csv", *BIN, "--risk-score", "SCORE",
                         "--engine", "ml", "--out", "{out}"],
     ["--risk-score", "'high'", "rows 5, 10"]),
    ("risk-model-not-json", ["risk-nmr", "{d}/bin.csv", *BIN, "--risk-model",
                             "{d}/not_json.json", "--out", "{out}"], ["not_json.json"]),
    ("risk-model-other-json", ["risk-nmr", "{d}/bin.csv", *BIN, "--risk-model", "{d}/other.json",
                               "--out", "{out}"], ["other.json", "risk model"]),
    ("risk-score-model-not-json", ["risk-score", "{d}/not_json.json", "{d}/bin.csv",
                                   "--out", "{out}.csv"], ["not_json.json"]),
    ("risk-score-out-is-folder", ["risk-score", "{d}/not_json.json", "{d}/bin.csv",
                                  "--out", "{d}"], ["--out", "folder"]),
    ("pool-missing-folder", ["pool", "{d}/no_sites", "--out", "{out}"], ["no_sites"]),
    ("pool-empty-folder", ["pool", "{d}/sites_empty", "--out", "{out}"], ["no .json"]),
    ("pool-not-a-summary", ["pool", "{d}/sites_bad", "--out", "{out}"],
     ["site_A.json", "site summary"]),
]

try:
    import econml  # noqa: F401
except ImportError:
    CASES.append(("causal-forest-not-installed",
                  ["ite", "{d}/cont.csv", *CONT, "--learner", "causal-forest", "--out", "{out}"],
                  ["pip install", "causal-forest"]))


def _fill(argv: list[str], d: Path, out: Path) -> list[str]:
    return [a.replace("{d}", str(d)).replace("{out}", str(out)) for a in argv]


def _run_in_process(argv, capsys, monkeypatch):
    monkeypatch.setenv("IPDMA_TRACEBACK", "1")  # an uncaught exception fails the test
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("case_id,argv,needles", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_a_clean_error(case_id, argv, needles, d, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    args = _fill(argv, d, out)
    before = sorted(p.name for p in d.iterdir())
    code, _stdout, err = _run_in_process(args, capsys, monkeypatch)
    assert code == 2, (case_id, err)
    assert "Traceback" not in err
    error_lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(error_lines) == 1, err
    assert err.rstrip().splitlines()[-1] == error_lines[0], err  # nothing after it
    for needle in needles:
        assert needle in error_lines[0], (needle, error_lines[0])
    # no library wording in CLI messages
    for api in ("given as trial=", "missing='error'", "outcome_type=", "categorical=["):
        assert api not in err
    # nothing left behind
    assert not out.exists() and not Path(f"{out}.csv").exists()
    assert sorted(p.name for p in d.iterdir()) == before


def test_console_script_prints_no_traceback(d, tmp_path):
    """The same contract through a real process (the console entry point)."""
    res = subprocess.run([sys.executable, "-m", "ipdma.cli", "describe", str(d / "age_text.csv"),
                          *BIN, "--covariates", "AGE"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 2
    assert res.stderr.startswith("error: covariate 'AGE' is mostly numeric")
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------- scan harness


def _subcommands():
    """(argv prefix, parser) for every leaf subcommand."""
    import argparse

    def walk(parser, prefix):
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            yield prefix, parser
            return
        for name, sub in subs[0].choices.items():
            yield from walk(sub, [*prefix, name])

    yield from walk(build_parser(), [])


def _scan_cases():
    """Every option with a value type, given malformed values, on every subcommand."""
    cases = []
    for prefix, parser in _subcommands():
        for action in parser._actions:
            if not action.option_strings or action.nargs == 0 or action.type is None:
                continue
            opt = action.option_strings[-1]
            for bad in ("-5", "abc", ""):
                cases.append((" ".join([*prefix, opt, repr(bad)]), prefix, opt, bad))
    return cases


SCAN = _scan_cases()


@pytest.mark.parametrize("label,prefix,opt,bad", SCAN, ids=[c[0] for c in SCAN])
def test_scan_options_never_raise(label, prefix, opt, bad, d, tmp_path, capsys, monkeypatch):
    # a file that does not exist: whatever passes parsing stops before any computation
    positional = {"risk-score": [str(d / "no.json"), str(d / "no.csv")],
                  "pool": [str(d / "no_sites")], "summarize": [str(d / "no_store")]}
    pos = positional.get(prefix[-1], [] if prefix[-1] in ("run", "demo", "simulate")
                         else [str(d / "no.csv")])
    if prefix[-1] == "simulate":
        pos = ["ms"]
    required = []
    if prefix[-1] in ("describe", "ite", "risk-nmr", "subgroups"):
        required = ["--trial", "trial", "--treatment", "trt", "--outcome", "y"]
        if prefix[-1] in ("ite",):
            required += ["--covariates", "x1"]
        if prefix[-1] == "subgroups":
            required += ["--partition-by", "x1"]
    if prefix[-1] == "simulate" and opt != "--seed":
        required += ["--seed", "1"]
    out = tmp_path / "out"
    needs_out = any("--out" in a.option_strings and a.required for a in dict(
        _subcommands_map())[tuple(prefix)]._actions)
    argv = [*prefix, *pos, *required, opt, bad]
    if needs_out and opt != "--out":
        argv += ["--out", str(out) + (".csv" if prefix[-1] in ("simulate", "risk-score")
                                      else "")]
    code, _o, err = _run_in_process(argv, capsys, monkeypatch)
    assert code in (0, 2), err
    assert "Traceback" not in err
    if code == 2:
        assert sum(ln.startswith("error:") for ln in err.splitlines()) == 1, err


def _subcommands_map():
    return [(tuple(p), parser) for p, parser in _subcommands()]


BAD_FILES = {
    "empty": "",
    "header-only": "trial,trt,y,x1\n",
    "binary-junk": "\x00\x01\x02 junk\n\x00",
    "one-column-semicolon-body": "trial,trt,y,x1\n1;0;1.5;2\n",
    "missing-outcome": "trial,trt,y,x1\nA,0,,1\nA,1,2,2\nB,0,1,1\nB,1,2,3\n",
    "missing-trial": "trial,trt,y,x1\n,0,1,1\nA,1,2,2\nB,0,1,1\nB,1,2,3\n",
    "all-covariate-missing": "trial,trt,y,x1\nA,0,1,\nA,1,2,\nB,0,1,\nB,1,2,\n",
    "inf-outcome": "trial,trt,y,x1\nA,0,inf,1\nA,1,2,2\nB,0,1,1\nB,1,2,3\n",
    "text-outcome": "trial,trt,y,x1\nA,0,a,1\nA,1,b,2\nB,0,c,1\nB,1,d,3\n",
    "one-treatment": "trial,trt,y,x1\nA,0,1,1\nA,0,2,2\nB,0,1,1\nB,0,2,3\n",
    "duplicate-columns": "trial,trt,y,x1,x1\nA,0,1,1,1\nA,1,2,2,2\nB,0,1,1,1\nB,1,2,3,3\n",
    "constant-covariate": "trial,trt,y,x1\nA,0,1,1\nA,1,2,1\nB,0,1,1\nB,1,2,1\n",
}

FILE_COMMANDS = {
    "describe": ["describe"],
    "ite": ["ite", "--covariates", "x1"],
    "risk-nmr": ["risk-nmr", "--covariates", "x1", "--engine", "ml", "--bootstrap", "0"],
    "subgroups": ["subgroups", "--partition-by", "x1", "--method", "mob"],
}
FILE_SCAN = [(f"{cmd}-{name}", cmd, name) for cmd in FILE_COMMANDS for name in BAD_FILES]


@pytest.mark.parametrize("label,cmd,name", FILE_SCAN, ids=[c[0] for c in FILE_SCAN])
def test_scan_bad_files_never_raise(label, cmd, name, tmp_path, capsys, monkeypatch):
    path = tmp_path / f"{name}.csv"
    path.write_text(BAD_FILES[name], encoding="latin-1")
    head, *rest = FILE_COMMANDS[cmd]
    out = tmp_path / "out"
    argv = [head, str(path), "--trial", "trial", "--treatment", "trt", "--outcome", "y", *rest]
    argv += ["--out", str(out)]
    code, _o, err = _run_in_process(argv, capsys, monkeypatch)
    assert code == 2, err
    assert "Traceback" not in err
    assert sum(ln.startswith("error:") for ln in err.splitlines()) == 1, err
    assert not out.exists()


# --------------------------------------------------------------------------- good inputs


def test_semicolon_and_tab_files_are_detected(d, tmp_path, capsys, monkeypatch):
    df = pd.read_csv(d / "bin.csv")
    for sep, name in ((";", "semi.csv"), ("\t", "tab.tsv")):
        df.to_csv(tmp_path / name, sep=sep, index=False)
        code, out, err = _run_in_process(["describe", str(tmp_path / name), *BIN, "--covariates",
                                          "AGE,SEX", "--json"], capsys, monkeypatch)
        assert code == 0, err
        assert json.loads(out)["dropped_rows"]["n_input"] == len(df)


def test_na_labels_are_values_unless_na_values(d, tmp_path, capsys, monkeypatch):
    df = pd.read_csv(d / "bin.csv")
    df["SMOKER"] = np.array(["None", "yes", "no"])[np.arange(len(df)) % 3]
    df.loc[[0, 7], "AGE"] = np.nan
    df.to_csv(tmp_path / "na.csv", index=False)
    argv = ["describe", str(tmp_path / "na.csv"), *BIN, "--covariates", "AGE,SMOKER", "--json"]
    code, out, err = _run_in_process(argv, capsys, monkeypatch)
    assert code == 0, err
    drop = json.loads(out)["dropped_rows"]
    assert drop["n_dropped"] == 2 and drop["rows"] == [1, 8] and drop["by_column"] == {"AGE": 2}
    assert "dropped 2 of" in err and "'S1'" in err
    code, out, err = _run_in_process([*argv, "--na-values", "None"], capsys, monkeypatch)
    assert code == 0, err
    assert json.loads(out)["dropped_rows"]["by_column"] == {"AGE": 2, "SMOKER": 40}


def test_duplicate_rows_warn_with_count(d, tmp_path, capsys, monkeypatch):
    df = pd.read_csv(d / "bin.csv").drop(columns="PID")
    pd.concat([df, df.iloc[[3, 5]]]).to_csv(tmp_path / "dup.csv", index=False)
    code, _o, err = _run_in_process(["describe", str(tmp_path / "dup.csv"), *BIN], capsys,
                                    monkeypatch)
    assert code == 0 and "2 row(s) are exact duplicates" in err and "rows 121, 122" in err
    assert "--patient-id" in err


def test_categorical_and_ordered_options(d, capsys, monkeypatch):
    argv = ["describe", str(d / "bin.csv"), *BIN, "--covariates", "AGE,SEX", "--json"]
    for extra in (["--ordered", "SEX:M,F"], ["--categorical", "AGE"], ["--ordered", "AGE"]):
        code, _out, err = _run_in_process([*argv, *extra], capsys, monkeypatch)
        assert code == 0, (extra, err)
