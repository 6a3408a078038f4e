"""The page's own special functions (calculator.js, used for the Weibull RMST) against
scipy, evaluated in headless Chromium: log-gamma, gamma, the regularised lower
incomplete gamma P(a, x) (``scipy.special.gammainc``) over a wide grid of shapes and
arguments, and the Weibull RMST ``ipdma.survival.weibull_rmst``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special

from ipdma.calculator import export_calculator
from ipdma.survival import weibull_rmst

from .conftest import open_page


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from ipdma.trees import MOB

    rng = np.random.default_rng(1)
    df = pd.DataFrame({"x": rng.normal(size=300), "trt": rng.integers(0, 2, 300)})
    df["y"] = df.trt * (df.x > 0) + rng.normal(size=300)
    tree = MOB(parm="trt").fit(df, "y", ["trt"], ["x"])
    return export_calculator(tree, tmp_path_factory.mktemp("special") / "page.html", data=df)


def _js(browser, fn: str, *args):
    return np.asarray(browser.execute_script(
        f"var f = window.ipdmaCalculator.special.{fn}, A = arguments;"
        "return A[0].map(function (_, i) { return f.apply(null, "
        "Array.prototype.map.call(A, function (a) { return a[i]; })); });",
        *[np.asarray(a, float).tolist() for a in args]), float)


def test_lgamma_and_gamma(browser, page):
    open_page(browser, page)
    x = np.r_[np.geomspace(1e-8, 170, 2500), np.linspace(0.01, 2.6, 1001),
              np.arange(1, 30)]
    ref = special.gammaln(x)
    got = _js(browser, "lgamma", x)
    # absolute error a few units in the last place of max(1, |log Gamma|)
    assert np.max(np.abs(got - ref) / np.maximum(1.0, np.abs(ref))) < 2e-15
    small = x <= 30
    g = _js(browser, "gamma", x[small])
    assert np.max(np.abs(g / special.gamma(x[small]) - 1)) < 5e-14
    assert np.all(_js(browser, "gamma", np.arange(1, 20)) ==
                  special.gamma(np.arange(1, 20)))          # factorials exactly


def test_regularised_lower_incomplete_gamma(browser, page):
    open_page(browser, page)
    A = np.geomspace(1e-3, 200, 90)
    X = np.r_[0.0, np.geomspace(1e-10, 2e3, 120)]
    a, x = (v.ravel() for v in np.meshgrid(A, X))
    near = np.geomspace(0.05, 500, 200)                       # the transition x ~ a
    for f in (0.9, 0.99, 1.0, 1.01, 1.1, 1.5):
        a, x = np.r_[a, near], np.r_[x, near * f]
    ref = special.gammainc(a, x)
    got = _js(browser, "gammainc", a, x)
    assert np.max(np.abs(got - ref)) < 1e-14
    ok = ref > 1e-290
    rel = np.abs(got[ok] - ref[ok]) / ref[ok]
    # relative: ~ulp of the exponent a log x - x - log Gamma(a + 1) (scipy's own rounding)
    realistic = (a[ok] >= 0.05) & (a[ok] <= 20)
    assert rel[realistic].max() < 1e-13
    assert rel.max() < 1e-12
    assert browser.execute_script(
        "var P = window.ipdmaCalculator.special.gammainc;"
        "return [P(2, 0), P(2, Infinity), isNaN(P(-1, 1)), isNaN(P(1, -1))];") == \
        [0, 1, True, True]


def test_weibull_rmst(browser, page):
    open_page(browser, page)
    rng = np.random.default_rng(3)
    n = 3000
    tau = rng.choice([0.5, 1.0, 3.0, 30.0, 365.0], n)
    sc = np.exp(rng.uniform(np.log(0.1), np.log(4.0), n))         # shapes 0.25 .. 10
    mu = np.log(tau) + rng.uniform(-6, 6, n) * sc                  # U from e^-6^.. to e^6^..
    ref = weibull_rmst(tau, mu, sc)
    got = _js(browser, "weibullRmst", tau, mu, sc)
    assert np.max(np.abs(got - ref) / tau) < 1e-13
