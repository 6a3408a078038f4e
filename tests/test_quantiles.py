"""The scipy-free interval quantiles of ipdma._quantiles (CLI start-up) against scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from ipdma._quantiles import norm_ppf, t_ppf

LEVELS = [0.6, 0.8, 0.9, 0.95, 0.975, 0.99, 0.995, 0.999, 0.9999, 0.4, 0.1, 0.025, 1e-4]


@pytest.mark.parametrize("p", LEVELS)
def test_norm_ppf_equals_scipy(p):
    assert norm_ppf(p) == pytest.approx(float(special.ndtri(p)), rel=1e-14, abs=1e-15)


def test_t_ppf_equals_scipy():
    for df in range(1, 201):
        ours = np.array([t_ppf(df, p) for p in LEVELS])
        ref = special.stdtrit(df, np.array(LEVELS))
        np.testing.assert_allclose(ours, ref, rtol=1e-12, err_msg=f"df={df}")


@pytest.mark.parametrize(("df", "p"), [(2.5, 0.975), (500, 0.975), (5, 1e-6), (5, 1 - 1e-6)])
def test_t_ppf_outside_closed_form_uses_scipy(df, p):
    assert t_ppf(df, p) == float(special.stdtrit(df, p))


def test_t_ppf_symmetry_and_centre():
    assert t_ppf(7, 0.5) == 0.0
    assert t_ppf(7, 0.025) == -t_ppf(7, 0.975)
