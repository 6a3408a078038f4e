"""fit_site keeps user feature names through pool_sites(X_new=DataFrame), or refuses
at pooling with a how-to when the sites were fitted on unnamed arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipdma.errors import ColumnNotFoundError, DataError
from ipdma.ite import fit_site, pool_sites


def _sites(kind, tmp_path=None, fmt="json"):
    rng = np.random.default_rng(3)
    out = []
    for k in range(3):
        X = rng.normal(size=(80, 2))
        t = rng.integers(0, 2, 80)
        y = X[:, 0] + t * (1 + X[:, 1]) + rng.normal(size=80)
        if kind == "names":
            s = fit_site(X, t, y, trial=f"s{k}", feature_names=["age", "bmi"])
        elif kind == "frame":
            s = fit_site(pd.DataFrame(X, columns=["age", "bmi"]), t, y, trial=f"s{k}")
        else:
            s = fit_site(X, t, y, trial=f"s{k}")
        out.append(s if tmp_path is None else s.save(tmp_path / f"s{k}.{fmt}"))
    return out


@pytest.mark.parametrize("kind", ["names", "frame"])
@pytest.mark.parametrize("fmt", ["json", "npz"])
def test_names_survive_export(tmp_path, kind, fmt):
    paths = _sites(kind, tmp_path, fmt)
    new = pd.DataFrame({"bmi": [0.0, 1.0], "age": [0.0, 0.0]}, index=["p1", "p2"])
    res = pool_sites(paths, "mvma", X_new=new, method="fixed")
    arr = pool_sites(paths, "mvma", X_new=new[["age", "bmi"]].to_numpy(), method="fixed")
    np.testing.assert_allclose(res["ite"].to_numpy(), arr["ite"].to_numpy(), rtol=1e-14)
    assert list(res.index) == ["p1", "p2"]


def test_unnamed_sites_refuse_named_x_new(tmp_path):
    paths = _sites("array", tmp_path)
    new = pd.DataFrame({"age": [0.0], "bmi": [1.0]})
    with pytest.raises(ColumnNotFoundError, match="feature_names="):
        pool_sites(paths, "mvma", X_new=new, method="fixed")
    # arrays in the sites' column order still work, as do the default names
    pool_sites(paths, "mvma", X_new=np.zeros((1, 2)), method="fixed")
    pool_sites(paths, "mvma", X_new=pd.DataFrame({"x1": [0.0], "x2": [0.0]}), method="fixed")


def test_feature_names_length_checked():
    X = np.zeros((10, 2))
    with pytest.raises(DataError, match="feature_names"):
        fit_site(X, np.r_[[0] * 5, [1] * 5], np.arange(10.0), trial="A", feature_names=["a"])
