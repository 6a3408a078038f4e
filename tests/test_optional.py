"""Optional dependencies: a missing extra gives an error that names it (API and CLI)."""

from __future__ import annotations

import sys

import pytest

from ipdma._optional import EXTRAS, import_optional, jax_cache_dir
from ipdma.errors import IPDMAError, MissingDependencyError


@pytest.fixture
def hide(monkeypatch):
    """hide("xgboost"): importing it (or a submodule) raises ImportError."""

    def _hide(*names):
        for name in names:
            for mod in [m for m in list(sys.modules) if m == name or m.startswith(name + ".")]:
                monkeypatch.delitem(sys.modules, mod)
            monkeypatch.setitem(sys.modules, name, None)

    return _hide


@pytest.mark.parametrize("module,extra", [("xgboost", "xgboost"), ("jax.numpy", "bayes"),
                                          ("numpyro", "bayes"), ("arviz", "bayes"),
                                          ("pyarrow", "parquet"), ("econml.dml", "causal-forest")])
def test_missing_module_names_its_extra(hide, module, extra):
    hide(module.split(".")[0])
    with pytest.raises(MissingDependencyError, match=rf"pip install 'ipdma\[{extra}\]'"):
        import_optional(module, purpose="this test")
    assert EXTRAS[module.split(".")[0]] == extra
    assert issubclass(MissingDependencyError, IPDMAError)
    assert issubclass(MissingDependencyError, ImportError)


def test_xgboost_learner_without_xgboost(hide):
    from ipdma.datasets import make_ite_continuous
    from ipdma.ite import TwoStageITE, learner_available

    hide("xgboost")
    assert not learner_available("xgboost") and learner_available("ols")
    sim = make_ite_continuous(5, random_state=1, n_trials=3, n_test_trials=0)
    with pytest.raises(MissingDependencyError, match=r"ipdma\[xgboost\]"):
        TwoStageITE("xgboost", "weighted-aux-ols", random_state=1).fit(sim.ipd())


def test_cli_error_names_the_extra(hide, tmp_path, capsys):
    from ipdma.cli import main
    from ipdma.datasets import make_ite_continuous

    sim = make_ite_continuous(5, random_state=1, n_trials=3, n_test_trials=0)
    path = tmp_path / "d.csv"
    sim.data.to_csv(path, index=False)
    hide("xgboost")
    code = main(["ite", str(path), "--trial", "trial", "--treatment", "treatment", "--outcome",
                 "y", "--covariates", "x1,x2", "--learner", "xgboost", "--pooler",
                 "weighted-aux-ols", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:") and "ipdma[xgboost]" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_parquet_store_without_pyarrow(hide, tmp_path):
    from ipdma.simstudy._store import ResultStore

    hide("pyarrow")
    with pytest.raises(MissingDependencyError, match=r"ipdma\[parquet\].*"):
        ResultStore(tmp_path / "s", format="parquet")
    ResultStore(tmp_path / "s2", format="csv")          # CSV needs nothing more


def test_jax_cache_dir_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("IPDMA_CACHE_DIR", str(tmp_path))
    assert jax_cache_dir() == tmp_path / "jax"
    monkeypatch.setenv("IPDMA_JAX_CACHE", "off")
    assert jax_cache_dir() is None
