"""A network scenario for two-stage ITE with more than two treatments."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .._base import check_random_state
from ..errors import ModelSpecificationError
from ._base import SimulatedIPD

__all__ = ["make_ite_network"]

#: default trial designs: two three-arm trials and two-arm trials of every pair,
#: one of them (B vs C) without the network reference A
_DESIGNS = (("A", "B", "C"), ("A", "B", "C"), ("A", "B"), ("A", "B"), ("A", "C"),
            ("A", "C"), ("B", "C"), ("A", "D"), ("B", "D"), ("A", "C", "D"))


def make_ite_network(*, designs: Sequence[Sequence[str]] | None = None,
                     n_per_trial: tuple[int, int] = (200, 400), n_covariates: int = 4,
                     tau: float = 0.2, sigma: float = 1.0, n_test: int = 1000,
                     random_state=None) -> SimulatedIPD:
    """Continuous-outcome treatment network with treatment-specific effect modifiers.

    Data-generating mechanism (trial l, patient i, treatment k, reference A):

    * trial designs ``designs`` (default: 10 trials over A, B, C, D: three-arm
      A/B/C (x2) and A/C/D, two-arm A/B (x2), A/C (x2), B/C (no A), A/D, B/D); the
      arm is drawn uniformly from the trial's arms; n_l ~ U{n_per_trial};
    * covariates x ~ MVN(mu_l, Toeplitz(0.3^|j-k|)), mu_l ~ U(-0.4, 0.4)^p
      (test set: mu = 0);
    * ``y = alpha_l + x'beta + delta_k + h_lk + x'gamma_k + eps``, eps ~ N(0, sigma^2),
      alpha_l ~ N(1, 0.5^2), beta_j = 0.5 (-1)^j, delta_A = 0, gamma_A = 0;
      treatment effects delta = (B 0.1, C 0.0, D -0.1) and effect modifiers gamma_k
      that differ by treatment (B favours high x1, C high x2, D low x1 and high x3), so
      the best treatment differs between patients;
    * trial deviations h_l ~ N(0, tau^2 [[1, 1/2, ...], ...]) for the non-reference
      treatments (consistency structure: every contrast has deviation variance tau^2).

    Larger y is better. True ITEs of a test patient are the population-mean conditional
    effects ``delta_k + x'gamma_k`` (no trial deviation).

    Returns
    -------
    SimulatedIPD
        ``data``: trial, id, treatment, x1..xp, y; ``truth``: the training patients'
        true ITEs ``true_ite_<T>_vs_A`` and ``true_best``; ``test`` (``sim.test``):
        ``n_test`` new patients with x1..xp, ``true_ite_<T>_vs_A`` and ``true_best``;
        ``params``: delta, gamma, beta, tau, designs.

    Examples
    --------
    >>> from ipdma.datasets import make_ite_network
    >>> sim = make_ite_network(random_state=1, n_test=200)
    >>> sorted(sim.data["treatment"].unique())
    ['A', 'B', 'C', 'D']
    >>> sim.test["true_best"].value_counts().sort_index().index.tolist()
    ['A', 'B', 'C', 'D']
    """
    rng = check_random_state(random_state)
    designs = [tuple(map(str, d)) for d in (designs or _DESIGNS)]
    if any(len(set(d)) < 2 for d in designs):
        raise ModelSpecificationError("every trial design needs two or more different arms")
    p = int(n_covariates)
    if p < 3:
        raise ModelSpecificationError(f"n_covariates must be at least 3, got {n_covariates}")
    lo, hi = (int(v) for v in n_per_trial)
    if lo < 10 * max(len(d) for d in designs) or hi < lo:
        raise ModelSpecificationError(
            f"n_per_trial={n_per_trial!r}: give (low, high) with low >= 10 per arm")
    treatments = sorted({t for d in designs for t in d})
    ref = treatments[0]
    others = treatments[1:]
    base_delta = {"B": 0.1, "C": 0.0, "D": -0.1}
    base_gamma = {"B": [0.6, 0.1, -0.2], "C": [-0.3, 0.6, 0.2], "D": [-0.6, -0.2, 0.6]}
    delta = {t: base_delta.get(t, 0.2) for t in others}
    gamma = {t: np.r_[base_gamma.get(t, [0.3, -0.3, 0.3]), np.zeros(p - 3)] for t in others}
    beta = 0.5 * (-1.0) ** np.arange(1, p + 1)
    cov = 0.3 ** np.abs(np.subtract.outer(np.arange(p), np.arange(p)))
    T1 = len(others)
    Hcov = tau ** 2 * 0.5 * (np.eye(T1) + np.ones((T1, T1)))
    rows = []
    pid = 0
    for li, arms in enumerate(designs, start=1):
        n = int(rng.integers(lo, hi + 1))
        mu = rng.uniform(-0.4, 0.4, p)
        X = rng.multivariate_normal(mu, cov, n)
        arm = np.asarray(arms)[rng.integers(0, len(arms), n)]
        alpha = rng.normal(1.0, 0.5)
        h = rng.multivariate_normal(np.zeros(T1), Hcov) if tau > 0 else np.zeros(T1)
        eff = np.zeros(n)
        for j, t in enumerate(others):
            m = arm == t
            eff[m] = delta[t] + h[j] + X[m] @ gamma[t]
        y = alpha + X @ beta + eff + rng.normal(0.0, sigma, n)
        df = pd.DataFrame(X, columns=[f"x{j + 1}" for j in range(p)])
        df.insert(0, "treatment", arm)
        df.insert(0, "id", np.arange(pid + 1, pid + n + 1))
        df.insert(0, "trial", li)
        df["y"] = y
        pid += n
        rows.append(df)
    data = pd.concat(rows, ignore_index=True)

    def truth_of(X: np.ndarray) -> pd.DataFrame:
        ite = np.column_stack([delta[t] + X @ gamma[t] for t in others])
        full = np.hstack([np.zeros((len(X), 1)), ite])
        out = pd.DataFrame({f"true_ite_{t}_vs_{ref}": ite[:, j] for j, t in enumerate(others)})
        out["true_best"] = np.asarray(treatments, dtype=object)[full.argmax(1)]
        return out

    cols = [f"x{j + 1}" for j in range(p)]
    truth = pd.concat([data[["trial", "id", "treatment"]],
                       truth_of(data[cols].to_numpy())], axis=1)
    Xt = rng.multivariate_normal(np.zeros(p), cov, int(n_test))
    test = pd.concat([pd.DataFrame({"id": np.arange(1, len(Xt) + 1)}),
                      pd.DataFrame(Xt, columns=cols), truth_of(Xt)], axis=1)
    params = {"treatments": treatments, "reference": ref, "delta": delta,
              "gamma": {t: g.tolist() for t, g in gamma.items()}, "beta": beta.tolist(),
              "tau": float(tau), "sigma": float(sigma),
              "designs": [list(d) for d in designs]}
    return SimulatedIPD(
        name="ite-network", data=data, truth=truth, params=params,
        columns={"trial": "trial", "treatment": "treatment", "outcome": "y",
                 "covariates": cols, "patient_id": "id"},
        description=("treatment network for two-stage ITE: "
                     f"{len(designs)} trials over {', '.join(treatments)} (multi-arm and "
                     "two-arm, one trial without the reference), treatment-specific effect "
                     "modifiers, known best treatment per patient"),
        ipd_options={"reference": ref}, extra={"test": test})
