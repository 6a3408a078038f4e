"""Exact marginalisation of crossnma's ``adjust1`` bias-probability model.

Under ``bias="adjust1"`` every bias-group study ``j`` (``j = 1..J``) has a latent indicator
``R_j ~ Bernoulli(pi_j)``, ``logit pi_j = a + b z_j``, with ``a, b ~ N(0, s^2)`` a priori
and ``z_j`` a study-level covariate.  ``a`` and ``b`` enter the likelihood only through
``R``, so for a configuration ``r`` in ``{0, 1}^J``::

    p(data | rest) = sum_r c_r prod_j L_j(r_j | rest),
    c_r = E_prior[ prod_j pi_j^{r_j} (1 - pi_j)^{1 - r_j} ]

and ``c_r`` does not depend on any other parameter.  :func:`config_prior` computes it by
numerical quadrature: with ``c = a + b zbar`` (``zbar`` the mean of ``z``), ``c | b ~
N(b zbar, s^2)``; for each ``b`` the Gaussian mass of ``c`` outside the window where a
study's ``|logit pi_j| < 40`` goes analytically to "all biased" / "none biased" (the
products of sigmoids there differ from 0/1 by less than ``J e^-40``), the window is
integrated by the trapezoidal rule (analytic integrand: the error falls exponentially
with the step), and ``b`` by adaptive vector quadrature (``scipy.integrate.quad_vec``)
with break points where the window meets the prior mass of ``c``.

:func:`draw_ab` draws ``(a, b) | R`` exactly by rejection from the prior.
"""

from __future__ import annotations

import itertools

import numpy as np

MAX_EXACT = 10          # 2^10 configurations (the quadrature takes ~25 s CPU at 10)


def config_bits(J: int) -> np.ndarray:
    """``(2^J, J)`` 0/1 matrix; row ``k`` is the configuration with ``R_j`` = bit j of k."""
    return ((np.arange(2 ** J)[:, None] >> np.arange(J)[None, :]) & 1).astype(float)


def config_prior(z: np.ndarray, sd: float, *, step: float = 0.1, window: float = 40.0,
                 epsabs: float = 1e-13) -> tuple[np.ndarray, float]:
    """Prior probability ``c_r`` of every bias configuration (rows of
    :func:`config_bits`) when ``logit pi_j = a + b z_j`` and ``a, b ~ N(0, sd^2)``.

    Returns ``(c, err)``: ``c`` sums to 1 (renormalised; ``err`` is the quadrature's
    error bound plus the departure of the raw sum from 1).
    """
    from scipy import integrate, special

    z = np.asarray(z, dtype=float)
    J = z.size
    bits = config_bits(J)
    zbar = float(z.mean())
    w = z - zbar
    W = float(np.abs(w).max())
    ones = 2 ** J - 1
    norm_c = 1.0 / (sd * np.sqrt(2 * np.pi))
    span = 10.0 * sd

    def inner(b: float) -> np.ndarray:
        mu = b * zbar
        lo, hi = -abs(b) * W - window, abs(b) * W + window
        out = np.zeros(2 ** J)
        out[ones] += special.ndtr((mu - hi) / sd)
        out[0] += special.ndtr((lo - mu) / sd)
        c0, c1 = max(lo, mu - span), min(hi, mu + span)
        if c1 > c0:
            n = max(int(np.ceil((c1 - c0) / step)), 2)
            c = np.linspace(c0, c1, n + 1)
            wt = np.full(c.size, (c1 - c0) / n)
            wt[[0, -1]] *= 0.5
            wt *= norm_c * np.exp(-0.5 * ((c - mu) / sd) ** 2)
            eta = c[:, None] + b * w[None, :]
            lf = -np.logaddexp(0.0, -eta) @ bits.T - np.logaddexp(0.0, eta) @ (1 - bits).T
            out += wt @ np.exp(lf)
        return out * norm_c * np.exp(-0.5 * (b / sd) ** 2)

    bmax = span
    brk = (window + span) / max(abs(zbar) - W, 1e-12)
    pts = sorted({0.0, *[p for p in (-brk, brk, -brk / 10, brk / 10) if abs(p) < bmax]})
    edges = [-bmax, *pts, bmax]
    tot = np.zeros(2 ** J)
    err = 0.0
    for e0, e1 in itertools.pairwise(edges):
        r, e = integrate.quad_vec(inner, e0, e1, epsabs=epsabs, epsrel=1e-10, limit=4000)
        tot += r
        err += float(e)
    s = float(tot.sum())
    return tot / s, err + abs(s - 1.0)


def draw_ab(R: np.ndarray, z: np.ndarray, sd: float, rng: np.random.Generator, *,
            batch: int = 200_000, max_batches: int = 200) -> tuple[np.ndarray, np.ndarray,
                                                                    int]:
    """Exact draws of ``(a, b) | R`` (``R``: ``(n, J)`` 0/1) by rejection from the prior
    (accept with probability ``prod pi^R (1 - pi)^(1 - R)``).  Returns ``a``, ``b`` and the
    number of rows not drawn afresh: when ``max_batches`` batches give fewer acceptances
    than rows of a configuration (prior probability below ~1e-7), the accepted draws are
    reused (NaN if none)."""
    R = np.asarray(R, dtype=int)
    n, J = R.shape
    a = np.full(n, np.nan)
    b = np.full(n, np.nan)
    keys = R @ (1 << np.arange(J))
    z = np.asarray(z, dtype=float)
    missing = 0
    for k in np.unique(keys):
        rows = np.flatnonzero(keys == k)
        r = R[rows[0]].astype(bool)
        got_a: list[np.ndarray] = []
        got_b: list[np.ndarray] = []
        have = 0
        for _ in range(max_batches):
            pa = rng.normal(0.0, sd, batch)
            pb = rng.normal(0.0, sd, batch)
            eta = pa[:, None] + pb[:, None] * z[None, :]
            logacc = np.where(r[None, :], -np.logaddexp(0.0, -eta),
                              -np.logaddexp(0.0, eta)).sum(axis=1)
            ok = np.log(rng.random(batch)) < logacc
            got_a.append(pa[ok])
            got_b.append(pb[ok])
            have += int(ok.sum())
            if have >= rows.size:
                break
        ga, gb = np.concatenate(got_a)[:rows.size], np.concatenate(got_b)[:rows.size]
        short = rows.size - ga.size
        if short and ga.size:
            # rare configuration: the accepted draws are reused (counted in ``missing``)
            pick = rng.integers(0, ga.size, short)
            ga, gb = np.concatenate([ga, ga[pick]]), np.concatenate([gb, gb[pick]])
        a[rows[:ga.size]] = ga
        b[rows[:gb.size]] = gb
        missing += short
    return a, b, missing
