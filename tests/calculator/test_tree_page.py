"""The subgroup-tree calculator page (MOB, MetaMOB) in headless Chromium: the page's
terminal node and node effect with its interval equal ``predict(type="effect")``."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from ipdma.calculator import calculator_spec, export_calculator
from ipdma.datasets import make_lbp_trials
from ipdma.trees import MOB, MetaMOB

from .conftest import as_text, fill_and_read, open_page

TOL = 1e-9


@pytest.fixture(scope="module")
def lbp():
    sim = make_lbp_trials(random_state=2026)
    d = sim.data.copy()
    return sim, d


@pytest.fixture(scope="module")
def mob(lbp):
    sim, d = lbp
    # a nominal factor among the partitioning variables, so that factor splits are routed too
    d = d.assign(site=np.where(d["age"] > d["age"].median(), "urban", "rural"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = MOB(parm="treatment", alpha=0.2).fit(
            d, outcome="rmdq", regressors=["treatment"],
            partition=[*sim.columns["covariates"], "site"])
    return d, tree


@pytest.fixture(scope="module")
def metamob(lbp):
    sim, d = lbp
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = MetaMOB(random="treatment", fixed_trial_intercepts=True, parm="treatment").fit(
            d, outcome="rmdq", treatment="treatment", partition=sim.columns["covariates"],
            trial="trial")
    return d, tree


def _patients(d, cols, n, seed):
    rng = np.random.default_rng(seed)
    out = {}
    for c in cols:
        s = d[c]
        if pd.api.types.is_numeric_dtype(s) and s.nunique() > 2:
            out[c] = rng.uniform(s.min(), s.max(), n)
        else:
            out[c] = rng.choice(pd.unique(s.dropna()), n)
    return pd.DataFrame(out)


@pytest.mark.parametrize("which", ["mob", "metamob"])
def test_page_matches_predict(browser, tmp_path, which, request):
    d, tree = request.getfixturevalue(which)
    path = export_calculator(tree, tmp_path / f"tree_{which}.html", data=d,
                             treatments=("usual care", "treatment"), higher_is_better=False)
    open_page(browser, path, screenshot=tmp_path / f"tree_{which}.png")
    spec = calculator_spec(tree, data=d)
    cols = [i["name"] for i in spec["inputs"]]
    assert cols, "the fitted tree should have at least one split"
    pats = _patients(d, cols, 150, seed=11)
    page = fill_and_read(browser, [{c: as_text(v) for c, v in r.items()}
                                   for r in pats.to_dict("records")])
    # predict needs every partitioning variable; those the tree does not split on do not
    # change the node (the page does not ask for them)
    full = pats.copy()
    mob_obj = tree.tree_ if which == "metamob" else tree
    for sp in mob_obj._specs:
        if sp.name not in full:
            full[sp.name] = d[sp.name].iloc[0]
    py = tree.predict(full, type="effect")
    assert py["node"].nunique() > 1
    for i, out in enumerate(page):
        assert out["ok"], out["errors"]
        assert out["node"] == py["node"].iloc[i]
        for k in ("estimate", "se", "ci_lower", "ci_upper"):
            assert abs(out["columns"][k][0] - py[k].iloc[i]) <= TOL, (i, k)
        assert out["recommended"] == ("treatment" if py["estimate"].iloc[i] < 0
                                      else "usual care")
    missing = fill_and_read(browser, [{c: "" for c in cols}])[0]
    assert not missing["ok"] and {e["input"] for e in missing["errors"]} == set(cols)


def test_mob_spec_routes_factor_levels(mob):
    d, tree = mob
    spec = calculator_spec(tree, data=d)
    kinds = {n["split"]["kind"] for n in spec["model"]["nodes"].values() if n["split"]}
    assert kinds <= {"numeric", "nominal", "ordered"}
    assert set(spec["model"]["effects"]) == {str(i) for i in tree.effects()["node"]}
