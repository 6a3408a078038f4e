"""Normal and Student-t quantiles without importing scipy.special.

Interval code on the CLI's fast path (e.g. ``ipdma ite ... --predict``) needs only
``qnorm(0.975)`` and ``qt(0.975, K - 2)``; scipy.special costs about 0.3-0.5 s of CPU to
import (scipy >= 1.15 rewrites every ufunc's docstring on import).  These two scalar
functions give the same numbers to within a few units in the last place:

* :func:`norm_ppf` is :class:`statistics.NormalDist` ``inv_cdf`` (Wichura's AS 241, the
  algorithm of R's ``qnorm``);
* :func:`t_ppf` with an integer number of degrees of freedom (up to 200) solves the closed-form t
  distribution function (a finite trigonometric sum) by Newton's method, which
  converges monotonically from the normal quantile; other degrees of freedom go to
  ``scipy.special.stdtrit``.
"""

from __future__ import annotations

import math
from statistics import NormalDist

__all__ = ["norm_ppf", "t_ppf"]

_STD_NORMAL = NormalDist()


def norm_ppf(p: float) -> float:
    """Quantile of the standard normal distribution (R's ``qnorm(p)``).

    Examples
    --------
    >>> from ipdma._quantiles import norm_ppf
    >>> round(norm_ppf(0.975), 6)
    1.959964
    """
    return _STD_NORMAL.inv_cdf(float(p))


def _t_half(t: float, n: int) -> tuple[float, float]:
    """P(0 < T < t) and the density at t >= 0 for an integer number of degrees of freedom."""
    theta = math.atan(t / math.sqrt(n))
    c = math.cos(theta)
    s = math.sin(theta)
    c2 = c * c
    if n % 2:
        total, a = 0.0, 1.0
        if n > 1:
            total = 1.0
            for k in range(1, (n - 1) // 2):
                a *= (2 * k) / (2 * k + 1) * c2
                total += a
        cdf_half = (theta + s * c * total) / math.pi      # P(0 < T < t)
    else:
        total, a = 1.0, 1.0
        for k in range(1, n // 2):
            a *= (2 * k - 1) / (2 * k) * c2
            total += a
        cdf_half = 0.5 * s * total
    logc = (math.lgamma((n + 1) / 2) - math.lgamma(n / 2) - 0.5 * math.log(n * math.pi))
    dens = math.exp(logc - (n + 1) / 2 * math.log1p(t * t / n))
    return cdf_half, dens


def t_ppf(df: float, p: float) -> float:
    """Quantile of Student's t distribution with ``df`` degrees of freedom (R's ``qt(p, df)``).

    Integer ``df`` up to 200 (the ``K - 2`` of prediction intervals) and
    ``1e-4 <= p <= 1 - 1e-4`` are solved here (within 1e-12 of scipy); anything else
    uses ``scipy.special.stdtrit``.

    Examples
    --------
    >>> from ipdma._quantiles import t_ppf
    >>> round(t_ppf(8, 0.975), 6)
    2.306004
    """
    p = float(p)
    if not (1e-4 <= p <= 1 - 1e-4) or not (df > 0) or df != int(df) or df > 200:
        from scipy import special

        return float(special.stdtrit(df, p))
    n = int(df)
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_ppf(n, 1.0 - p)
    if n == 1:
        return 1.0 / math.tan(math.pi * (1.0 - p))   # Cauchy; no loss near p = 1
    if n == 2:
        return (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    h = p - 0.5   # exact
    # Newton on the increasing concave P(0 < T < t): from the normal quantile (below the
    # root) every step stays below the root and the iterates increase to it
    t = norm_ppf(p)
    for _ in range(200):
        half, dens = _t_half(t, n)
        step = (h - half) / dens
        t += step
        if abs(step) <= 1e-12 * t:   # quadratic convergence: t is now exact to rounding
            break
    return t
