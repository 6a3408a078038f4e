"""CLI tests: simulate, describe, demo, error handling (in-process through main())."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ipdma.cli import main


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def ms_csv(tmp_path, capsys):
    path = tmp_path / "ms.csv"
    assert _run(capsys, "simulate", "ms", "--seed", "1", "--out", str(path))[0] == 0
    return path


def test_simulate_writes_data_and_truth(ms_csv, tmp_path, capsys):
    df = pd.read_csv(ms_csv)
    assert {"STUDYID", "TRT01A", "RELAPSE2year"} <= set(df.columns)
    for extra in ("truth", "external", "params"):
        assert list(tmp_path.glob(f"ms_{extra}.*")), extra
    # same seed -> identical file
    again = tmp_path / "again.csv"
    _run(capsys, "simulate", "ms", "--seed", "1", "--out", str(again))
    pd.testing.assert_frame_equal(df, pd.read_csv(again))


def test_simulate_ite_json(tmp_path, capsys):
    code, out, _ = _run(capsys, "simulate", "ite", "--scenario", "5", "--seed", "2", "--out",
                        str(tmp_path / "ite.csv"), "--json")
    assert code == 0
    payload = json.loads(out)
    assert payload["scenario"] == 5 and "test" in payload["files"]
    test = pd.read_csv(payload["files"]["test"])
    assert "ite_true" in test


def test_simulate_bad_scenario_is_a_clean_error(tmp_path, capsys):
    code, _out, err = _run(capsys, "simulate", "ite", "--scenario", "40", "--seed", "1",
                          "--out", str(tmp_path / "x.csv"))
    assert code == 2 and err.startswith("error:") and "Traceback" not in err
    code, _, err = _run(capsys, "simulate", "ms", "--scenario", "2", "--seed", "1", "--out",
                        str(tmp_path / "x.csv"))
    assert code == 2 and ("--scenario applies to the 'ite', 'ite-binary' and 'survival' "
                          "data sets only, not 'ms'") in err
    code, _, err = _run(capsys, "simulate", "survival", "--scenario", "7", "--seed", "1",
                        "--out", str(tmp_path / "x.csv"))
    assert code == 2 and "data set 'survival' has scenarios 1-4" in err


def test_simulate_registers_the_network_and_survival_generators(tmp_path, capsys):
    for name in ("ite-network", "survival", "survival-network"):
        code, out, err = _run(capsys, "simulate", name, "--seed", "1", "--out",
                              str(tmp_path / f"{name}.csv"))
        assert code == 0, err
        assert (tmp_path / f"{name}_truth.csv").is_file() or name == "survival-network"
    assert "--time time --event event" in out


def test_describe_human_json_and_out(ms_csv, tmp_path, capsys):
    args = ["describe", str(ms_csv), "--trial", "STUDYID", "--treatment", "TRT01A",
            "--outcome", "RELAPSE2year", "--covariates", "AGE,SEX,SFPCSBL"]
    code, out, _ = _run(capsys, *args)
    assert code == 0 and "PBO" in out and "S2" in out
    code, out, _ = _run(capsys, *args, "--json", "--out", str(tmp_path / "desc"))
    assert code == 0
    payload = json.loads(out)
    assert payload["files"]["network_plot"].endswith("network.png")
    assert (tmp_path / "desc" / "index.html").is_file()
    assert (tmp_path / "desc" / "network.png").stat().st_size > 1000


def test_describe_misspelled_column_suggests(ms_csv, capsys):
    code, _, err = _run(capsys, "describe", str(ms_csv), "--trial", "STUDYID", "--treatment",
                        "TRT01A", "--outcome", "RELAPSE2yr")
    assert code == 2
    assert "RELAPSE2yr" in err and "RELAPSE2year" in err and "Traceback" not in err


def test_missing_file_is_a_clean_error(tmp_path, capsys):
    code, _, err = _run(capsys, "describe", str(tmp_path / "nope.csv"), "--trial", "t",
                        "--treatment", "a", "--outcome", "y")
    assert code == 2 and "does not exist" in err


def test_demo_data_section(tmp_path, capsys):
    code, _out, err = _run(capsys, "demo", "--out", str(tmp_path / "rep"), "--only", "data")
    assert code == 0
    html = (tmp_path / "rep" / "index.html").read_text()
    assert "Treatment network" in html and "data:image/png;base64," in html
    assert "make_ms_network" in html  # the exact calls are shown
    assert "[1/1]" in err  # progress on the terminal


def test_demo_unknown_section(tmp_path, capsys):
    code, _, err = _run(capsys, "demo", "--out", str(tmp_path), "--only", "nope")
    assert code == 2 and "unknown demo section" in err
