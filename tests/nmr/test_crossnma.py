"""CrossNMA against the crossnma 1.3.0 vignette (``nmr_crossnma_ms``, ``published`` block).

README tolerance for an independent Bayesian re-implementation: posterior means within
about 0.05, tau within about 0.1.  The published values are themselves JAGS estimates from
2 x 3,000 draws with small effective sample sizes (mod2: n.eff 97-127 for d), so their own
Monte Carlo error (sd / sqrt(n.eff), 0.035 for mod2 d.B) is of the order of the tolerance;
the published values are checked within max(0.05, 4 x the Monte Carlo error of the
difference) (tau: 0.1), and every mean is checked within 0.05 (tau 0.1) against a
long-chain crossnma 1.3.0 run of the same calls (4 x 20,000 draws,
``tests/nmr/data/crossnma_models/``, make.R there).
"""

from __future__ import annotations

import json
import pathlib
import warnings

import numpy as np
import pytest

from ipdma.errors import ModelSpecificationError, SamplerWarning
from ipdma.nmr import CrossNMA

LONG = pathlib.Path(__file__).parent / "data" / "crossnma_models" / "expected.json"
KW = dict(study="id", treatment="treat", outcome="relapse", aggregate_events="relapse",
          aggregate_n="n")
BIAS_KW = dict(design="design", rob="rob", unfavored="unfavored", bias_group="bias.group")
# our names -> crossnma names
NAMES = {"d[B]": "d.B", "d[C]": "d.C", "d[D]": "d.D", "tau": "tau", "b_1": "b_1",
         "tau_b": "tau.b_1", "g": "g"}
_CACHE: dict = {}


def _data(case):
    return case.csv("crossnma_ipddata.csv"), case.csv("crossnma_stddata.csv")


def _fit(case, key):
    if key not in _CACHE:
        ipd, std = _data(case)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SamplerWarning)
            if key == "mod2":
                m = CrossNMA(covariate="age", draws=2000, random_state=1)
                _CACHE[key] = m.fit(ipd, aggregate=std, **KW)
            else:
                m = CrossNMA("adjust2", draws=2000, random_state=1, crossnma_compat=True)
                _CACHE[key] = m.fit(ipd, aggregate=std, **KW, **BIAS_KW)
    return _CACHE[key]


def _check(res, pub, names, long):
    """Each posterior mean vs the long-chain crossnma run (0.05; tau 0.1) and vs the
    published value within max(README tolerance, 4 x the Monte Carlo error of the
    difference, sqrt(MCSE_published^2 + MCSE_ours^2) with MCSE = sd / sqrt(ESS)).
    Returns the parameters further than the nominal README tolerance from the published
    value (printed; the vignette's own MCMC error)."""
    beyond = []
    for ours, theirs in names.items():
        est = res.params.loc[ours, "estimate"]
        nominal = 0.1 if "tau" in theirs else 0.05
        assert est == pytest.approx(long[theirs]["Mean"], abs=nominal), (
            ours, est, long[theirs]["Mean"])
        p = pub[theirs]
        mc = np.hypot(p["sd"] / np.sqrt(p["n_eff"]),
                      res.params.loc[ours, "se"] / np.sqrt(res.params.loc[ours, "ess_bulk"]))
        tol = max(nominal, 4 * mc)
        assert est == pytest.approx(p["mean"], abs=tol), (ours, est, p["mean"], tol)
        if abs(est - p["mean"]) > nominal:
            beyond.append((theirs, round(est - p["mean"], 3)))
    print("beyond the nominal tolerance from the published value:", beyond)
    return beyond


def _long(model):
    data = json.loads(LONG.read_text())
    return {r["parameter"]: r for r in data[model]["summary"]}


@pytest.mark.slow
def test_mod2_naive_nmr_matches_published(ref_case):
    case = ref_case("nmr_crossnma_ms")
    res = _fit(case, "mod2")
    pub = case.expected["published"]["mod2_naive_NMR_age"]
    names = {k: v for k, v in NAMES.items() if k != "g"}
    # published d.B -0.899 (n.eff 97) is 0.083 from crossnma's own long run (-0.982)
    _check(res, pub["estimates"], names, _long("mod2"))
    assert res.prior_scale == pytest.approx(1.33041390272543, rel=1e-10)
    assert res.covariate_ref == 15.0
    # crossnma's league() adds the covariate term only for independent interactions, so
    # the vignette's "age 38" table of this model holds the effects at the reference age
    # (15); ours at the reference age equals the posterior of d
    lg = res.league(15.0).set_index(["treatment", "comparator"])
    for t in "BCD":
        assert np.log(lg.loc[(t, "A"), "median"]) == pytest.approx(
            res.params.loc[f"d[{t}]", "median"], abs=1e-6)   # float32 draws
    assert res.diagnostics["max_rhat"] < 1.05


@pytest.mark.slow
def test_mod5_adjust2_matches_published(ref_case):
    case = ref_case("nmr_crossnma_ms")
    res = _fit(case, "mod5")
    pub = case.expected["published"]["mod5_bias_adjust2"]["estimates"]
    names = {k: v for k, v in NAMES.items() if k not in ("b_1", "tau_b")}
    _check(res, pub, names, _long("mod5"))


def test_errors_name_the_fix(ref_case):
    case = ref_case("nmr_crossnma_ms")
    ipd, std = _data(case)
    with pytest.raises(ModelSpecificationError, match="bias_covariate"):
        CrossNMA("adjust1").fit(ipd, aggregate=std, **KW, **BIAS_KW)
    with pytest.raises(ModelSpecificationError, match="bias="):
        CrossNMA("adjust3")
    with pytest.raises(ModelSpecificationError, match="unfavored"):
        CrossNMA("adjust2").fit(ipd, aggregate=std, **KW)
    bad = ipd.assign(relapse=ipd["relapse"] * 2)
    with pytest.raises(Exception, match="0/1"):
        CrossNMA().fit(bad, aggregate=std, **KW)
