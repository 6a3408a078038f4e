"""Properties of the aggregate-data NMA: invariance to labels, row order, the study
baseline arm and the network reference; two-arm networks equal pairwise
meta-analyses; equivalent input formats give the same fit; clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from ipdma.errors import (
    ColumnNotFoundError,
    DataError,
    ModelSpecificationError,
    NetworkError,
)
from ipdma.meta import fit_univariate, meta_analysis, network_meta_analysis, pairwise_contrasts

TOL = {"rtol": 1e-9, "atol": 1e-11}
ORDER = ["no_contact", "self_help", "ind_counseling", "grp_counseling"]


@pytest.fixture
def dat(ref_case):
    return ref_case("nma_aggregate_smoking").csv("dat_hasselblad1998.csv")


def nma(d, method="DL", trt="trt", **kw):
    kw.setdefault("reference", "no_contact")
    return network_meta_analysis(d, study="study", treatment=trt, events="xi", n="ni",
                                 method=method, small_values="bad", **kw)


def pair_table(res):
    """TE/SE of every ordered pair keyed by labels (direction-free comparison)."""
    TE, SE = res.TE, res.seTE
    return {(a, b): (TE.loc[a, b], SE.loc[a, b]) for a in TE.index for b in TE.columns}


def same_fit(r1, r2, rename=lambda t: t, tol=TOL):
    assert_allclose(r1.tau2, r2.tau2, **tol)
    p1, p2 = pair_table(r1), pair_table(r2)
    for (a, b), v in p1.items():
        assert_allclose(v, p2[(rename(a), rename(b))], **tol)
    h1, h2 = r1.heterogeneity(), r2.heterogeneity()
    assert_allclose(h1[["Q", "df"]].to_numpy(float), h2[["Q", "df"]].to_numpy(float), **tol)
    s1 = r1.pscores().set_index("treatment")["pscore"]
    s2 = r2.pscores().set_index("treatment")["pscore"]
    assert_allclose(s1.to_numpy(), s2.loc[[rename(t) for t in s1.index]].to_numpy(), **tol)
    n1 = r1.netsplit().set_index("comparison")
    n2 = r2.netsplit()
    for row in n2.itertuples(index=False):
        a, b = row.treat1, row.treat2
        inv = {rename(t): t for t in r1.treatments}
        key, sign = (f"{inv[a]}:{inv[b]}", 1.0) if f"{inv[a]}:{inv[b]}" in n1.index else (
            f"{inv[b]}:{inv[a]}", -1.0)
        ref = n1.loc[key]
        for col in ("direct", "indirect", "nma", "diff"):
            assert_allclose(sign * ref[col], getattr(row, col), **tol)
        for col in ("se_direct", "se_indirect", "prop_direct", "pval"):
            assert_allclose(ref[col], getattr(row, col), **tol)


@pytest.mark.parametrize("method", ["common", "DL", "REML", "ML"])
def test_relabel_and_shuffle(dat, method):
    base = nma(dat, method, treatment_order=ORDER)
    names = {"no_contact": "zz_none", "self_help": "b_self", "ind_counseling": "y_ind",
             "grp_counseling": "a_grp"}
    d2 = dat.assign(trt=dat["trt"].map(names), study=dat["study"].map(lambda s: f"S{99 - s}"))
    d2 = d2.sample(frac=1.0, random_state=3).reset_index(drop=True)
    other = nma(d2, method, reference="zz_none")
    tol = TOL if method in ("common", "DL") else {"rtol": 0, "atol": 1e-8}
    same_fit(base, other, rename=names.__getitem__, tol=tol)


@pytest.mark.parametrize("method", ["DL", "REML"])
def test_study_baseline_arm_does_not_matter(dat, method):
    """Another treatment order changes which arm is the baseline of the studies without
    the reference (e.g. study 9: self_help/ind/grp); nothing else changes."""
    a = nma(dat, method, treatment_order=ORDER)
    b = nma(dat, method, treatment_order=["no_contact", "grp_counseling", "ind_counseling",
                                          "self_help"])
    base_a = a.contrasts.to_frame().query("study == '9'")["baseline"].iloc[0]
    base_b = b.contrasts.to_frame().query("study == '9'")["baseline"].iloc[0]
    assert (base_a, base_b) == ("self_help", "grp_counseling")
    same_fit(a, b, tol=TOL if method == "DL" else {"rtol": 0, "atol": 1e-8})


def test_network_reference_does_not_matter(dat):
    a = nma(dat, "REML")
    b = nma(dat, "REML", reference="ind_counseling")
    assert b.coef.index.tolist() == ["grp_counseling", "no_contact", "self_help"]
    same_fit(a, b, tol={"rtol": 0, "atol": 1e-8})
    assert_allclose(b.coef["no_contact"], -a.coef["ind_counseling"], atol=1e-8)


def _two_arm(seed=0, k=9, treatments=("A", "B")):
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(k):
        n = rng.integers(30, 200, size=2)
        p0 = rng.uniform(0.1, 0.5)
        p1 = 1 / (1 + np.exp(-(np.log(p0 / (1 - p0)) + rng.normal(0.4, 0.5))))
        t = treatments if len(treatments) == 2 else ("A", treatments[1 + s % (len(treatments) - 1)])
        rows += [(f"s{s}", t[0], rng.binomial(n[0], p0), n[0]),
                 (f"s{s}", t[1], rng.binomial(n[1], p1), n[1])]
    return pd.DataFrame(rows, columns=["study", "trt", "xi", "ni"])


@pytest.mark.parametrize("method,uni", [("common", "FE"), ("DL", "DL"), ("REML", "REML"),
                                        ("ML", "ML")])
def test_two_treatments_equal_pairwise(method, uni):
    d = _two_arm()
    res = nma(d, method, reference="A")
    cd = res.contrasts
    ma = meta_analysis(cd.y, cd.vi, method=uni)
    tol = TOL if method in ("common", "DL") else {"rtol": 0, "atol": 1e-7}
    assert_allclose(res.coef["B"], ma.coef.iloc[0], **tol)
    assert_allclose(res.se["B"], ma.se.iloc[0], **tol)
    assert_allclose(res.tau2, ma.tau2, **tol)
    assert_allclose(res.Q, ma.Q, **TOL)
    if method in ("common", "DL"):
        # netmeta's I^2 = (Q - df) / Q; metafor's is tau^2-based and coincides for DL/FE
        assert_allclose(100 * res.I2, ma.I2, **TOL)
    if method == "REML":
        assert_allclose(res.loglik, ma.loglik, atol=1e-7)


def test_star_network_equals_separate_pairwise():
    """Without loops there is no indirect evidence: the common-effect NMA equals one
    fixed-effect pairwise meta-analysis per comparison, Q adds up, and with a given
    tau^2 the random-effects NMA equals pairwise fits with that tau^2."""
    d = _two_arm(seed=2, k=12, treatments=("A", "B", "C", "D"))
    res = nma(d, "common", reference="A")
    cd = res.contrasts
    tab = cd.to_frame()
    q = 0.0
    for t in ["B", "C", "D"]:
        sel = (tab["treatment"] == t).to_numpy()
        ma = meta_analysis(cd.y[sel], cd.vi[sel], method="FE")
        assert_allclose(res.coef[t], ma.coef.iloc[0], **TOL)
        assert_allclose(res.se[t], ma.se.iloc[0], **TOL)
        q += ma.Q
        fu = fit_univariate(cd.y[sel], cd.vi[sel], tau2=0.07)
        ru = nma(d, reference="A", tau2=0.07)
        assert_allclose(ru.coef[t], fu.beta[0], **TOL)
        assert_allclose(ru.se[t], np.sqrt(fu.vb[0, 0]), **TOL)
    assert_allclose(res.Q, q, **TOL)
    assert res.heterogeneity().set_index("source").loc["between designs", "df"] == 0
    assert res.netsplit()["indirect"].isna().all()


def test_contrast_rows_equal_arm_rows(dat):
    """te/se/treatment2 contrast rows (all pairs of multi-arm studies, in either
    direction) and arm-level te/se rows give the arm-count fit."""
    a = nma(dat, "REML")
    pairs = a.contrasts.study_pairs()
    rng = np.random.default_rng(0)
    flip = rng.random(len(pairs)) < 0.5
    rows = pd.DataFrame({
        "study": pairs["study"],
        "t1": np.where(flip, pairs["treat2"], pairs["treat1"]),
        "t2": np.where(flip, pairs["treat1"], pairs["treat2"]),
        "TE": np.where(flip, -pairs["TE"], pairs["TE"]), "seTE": np.sqrt(pairs["var"])})
    b = network_meta_analysis(rows, study="study", treatment="t1", treatment2="t2", te="TE",
                              se="seTE", reference="no_contact", method="REML",
                              small_values="bad")
    same_fit(a, b, tol={"rtol": 0, "atol": 1e-8})
    # arm-level log odds with their SEs (the continuity correction applied by hand)
    zero = dat.groupby("study")["xi"].transform(lambda x: 0) + dat.assign(
        z=(dat.xi == 0) | (dat.xi == dat.ni)).groupby("study")["z"].transform("any")
    c = 0.5 * zero
    arm = dat.assign(lo=np.log((dat.xi + c) / (dat.ni - dat.xi + c)),
                     se=np.sqrt(1 / (dat.xi + c) + 1 / (dat.ni - dat.xi + c)))
    r = network_meta_analysis(arm, study="study", treatment="trt", te="lo", se="se",
                              reference="no_contact", method="REML", small_values="bad")
    same_fit(a, r, tol={"rtol": 0, "atol": 1e-8})


def test_smd_and_md():
    rng = np.random.default_rng(5)
    rows = []
    for s in range(8):
        arms = ["P", "X", "Y"] if s < 2 else [["P", "X"], ["P", "Y"], ["X", "Y"]][s % 3]
        for t in arms:
            n = int(rng.integers(20, 80))
            rows.append((s, t, rng.normal({"P": 0, "X": 0.5, "Y": 0.8}[t], 0.3), rng.uniform(1, 2), n))
    d = pd.DataFrame(rows, columns=["study", "trt", "m", "sd", "n"])
    for measure in ("MD", "SMD"):
        a = network_meta_analysis(d, study="study", treatment="trt", mean="m", sd="sd", n="n",
                                  measure=measure, reference="P", method="REML")
        b = network_meta_analysis(d.iloc[::-1], study="study", treatment="trt", mean="m",
                                  sd="sd", n="n", measure=measure, reference="P",
                                  method="REML", treatment_order=["P", "Y", "X"])
        same_fit(a, b, tol={"rtol": 0, "atol": 1e-8})
    # two-arm SMD = escalc(measure = "SMD"): Hedges' g with the exact J, vtype "LS"
    cd = pairwise_contrasts(d[d.study == 4], study="study", treatment="trt", mean="m", sd="sd",
                            n="n", measure="SMD", reference="P")
    one = d[d.study == 4].set_index("trt")
    n1, n2 = one.loc["Y", "n"], one.loc["P", "n"]
    sp = np.sqrt(((n1 - 1) * one.loc["Y", "sd"] ** 2 + (n2 - 1) * one.loc["P", "sd"] ** 2)
                 / (n1 + n2 - 2))
    from scipy.special import gamma
    m = n1 + n2 - 2
    J = gamma(m / 2) / (np.sqrt(m / 2) * gamma((m - 1) / 2))
    g = J * (one.loc["Y", "m"] - one.loc["P", "m"]) / sp
    assert_allclose(cd.y, [g], rtol=1e-10)
    assert_allclose(cd.vi, [1 / n1 + 1 / n2 + g**2 / (2 * (n1 + n2))], rtol=1e-10)


def test_rr_rd_continuity_rule():
    d = pd.DataFrame({"study": [1, 1, 2, 2], "trt": ["A", "B", "A", "B"],
                      "xi": [0, 5, 3, 6], "ni": [20, 20, 30, 30]})
    rr = pairwise_contrasts(d, study="study", treatment="trt", events="xi", n="ni",
                            measure="RR", reference="A")
    assert_allclose(rr.y[0], np.log(5.5 / 21) - np.log(0.5 / 21), rtol=1e-12)
    assert_allclose(rr.vi[0], 1 / 5.5 - 1 / 21 + 1 / 0.5 - 1 / 21, rtol=1e-12)
    assert_allclose(rr.y[1], np.log(6 / 30) - np.log(3 / 30), rtol=1e-12)
    rd = pairwise_contrasts(d, study="study", treatment="trt", events="xi", n="ni",
                            measure="RD", reference="A")
    assert_allclose(rd.y[0], 5 / 20 - 0 / 20, rtol=1e-12)
    assert_allclose(rd.vi[0], (5.5 / 21) * (15.5 / 21) / 21 + (0.5 / 21) * (20.5 / 21) / 21,
                    rtol=1e-12)
    no = pairwise_contrasts(d.iloc[2:], study="study", treatment="trt", events="xi", n="ni",
                            incr=0.0, reference="A")
    assert no.incr == {"2": 0.0}
    with pytest.raises(DataError, match="incr"):
        pairwise_contrasts(d, study="study", treatment="trt", events="xi", n="ni", incr=0.0)


def test_errors(dat):
    with pytest.raises(ColumnNotFoundError, match="xj"):
        network_meta_analysis(dat, study="study", treatment="trt", events="xj", n="ni")
    with pytest.raises(ModelSpecificationError, match="method"):
        nma(dat, "PM")
    with pytest.raises(ModelSpecificationError, match="exactly one"):
        network_meta_analysis(dat, study="study", treatment="trt", events="xi", n="ni",
                              te="xi", se="ni")
    with pytest.raises(ModelSpecificationError, match="does not fit"):
        network_meta_analysis(dat, study="study", treatment="trt", events="xi", n="ni",
                              measure="MD")
    with pytest.raises(NetworkError, match="single arm"):
        nma(dat[~((dat.study == 1) & (dat.trt == "no_contact"))])
    with pytest.raises(DataError, match="two rows"):
        nma(pd.concat([dat, dat.iloc[:1]]))
    bad = dat.copy()
    bad.loc[0, "xi"] = 1000
    with pytest.raises(DataError, match="events"):
        nma(bad)
    disc = pd.DataFrame({"study": [1, 1, 2, 2], "trt": ["A", "B", "C", "D"],
                         "xi": [3, 4, 5, 6], "ni": [20] * 4})
    with pytest.raises(NetworkError, match="disconnected"):
        nma(disc, reference="A")
    with pytest.raises(ModelSpecificationError, match="small_values"):
        network_meta_analysis(dat, study="study", treatment="trt", events="xi", n="ni",
                              small_values="desirable")
