"""Harrell's concordance index with its infinitesimal-jackknife standard error
(= ``survival::concordance``, survival >= 3.0).

Pairs are counted exactly in O(n log^2 n) without loops over patients: with
the follow-up times replaced by their dense ranks within strata, every pair
(i, j) with ``rank_j > rank_i`` is found at exactly one bit level b -- the
highest bit where the two ranks differ (same higher bits, bit b of i is 0 and
of j is 1) -- so one vectorised ``searchsorted`` per bit level counts, for each
event i, the later subjects with smaller / equal / larger scores (and, mirrored,
for each subject j the earlier events with larger / equal / smaller scores,
needed for the influence of j).  The loop is over the ~log2(n) bit levels.

Conventions (as ``concordance(coxph fit)`` and ``concordance(Surv ~ lp,
reverse = TRUE)``): a higher score predicts a shorter survival; a pair is
comparable when the shorter time is an event; an event and a censoring at the
same time are comparable (the censored subject lived longer); two events at
the same time are ``tied_y`` and left out; equal scores count 1/2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._base import ResultsMixin, Summary

__all__ = ["ConcordanceResult", "concordance"]


@dataclass
class ConcordanceResult(ResultsMixin):
    """Harrell's C, its IJ standard error and the pair counts."""

    c_index: float
    se: float
    concordant: float
    discordant: float
    tied_x: float
    tied_y: float
    tied_xy: float
    influence: np.ndarray
    count_per_stratum: pd.DataFrame | None = None

    @property
    def var(self) -> float:
        return self.se ** 2

    @property
    def ci_lower(self) -> float:
        return self.c_index - 1.959963984540054 * self.se

    @property
    def ci_upper(self) -> float:
        return self.c_index + 1.959963984540054 * self.se

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"c_index": self.c_index, "se": self.se,
                              "ci_lower": self.ci_lower, "ci_upper": self.ci_upper,
                              "concordant": self.concordant, "discordant": self.discordant,
                              "tied_x": self.tied_x, "tied_y": self.tied_y,
                              "tied_xy": self.tied_xy}])

    def summary(self) -> Summary:
        return Summary("Harrell's concordance", tables={"": self.to_frame().T.rename(
            columns={0: "value"})})

    def plot(self, ax=None):
        """Histogram of the per-subject influence on C."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        ax.hist(self.influence, bins=40)
        ax.set_xlabel("influence on C (infinitesimal jackknife)")
        return ax


def _dense_rank(v):
    _, inv = np.unique(v, return_inverse=True)
    return inv.astype(np.int64)


def _level_counts(q_key_base, q_val, ref_keys_sorted, K):
    """For queries (base key, value): counts of reference keys in the same block
    with value < q, == q, > q."""
    lo = np.searchsorted(ref_keys_sorted, q_key_base, "left")
    lt = np.searchsorted(ref_keys_sorted, q_key_base + q_val, "left")
    le = np.searchsorted(ref_keys_sorted, q_key_base + q_val, "right")
    hi = np.searchsorted(ref_keys_sorted, q_key_base + K, "left")
    return lt - lo, le - lt, hi - le


def concordance(time, event, score, strata=None) -> ConcordanceResult:
    """Harrell's C of ``score`` (higher = shorter survival) for right-censored data.

    Parameters
    ----------
    time, event : arrays (n,)
    score : array (n,)
        Risk score, e.g. the Cox linear predictor.
    strata : array (n,), optional
        Pairs are formed within strata only; C pools the pair counts (as
        ``concordance(coxph(... + strata()))``).

    Returns
    -------
    ConcordanceResult
        ``c_index = (concordant + tied_x / 2) / (concordant + discordant + tied_x)``;
        ``se`` from the infinitesimal jackknife (``sqrt(concordance(...)$var)``).

    Examples
    --------
    >>> r = concordance([1, 2, 3, 4], [1, 1, 0, 1], [0.9, 0.5, 0.7, 0.1])
    >>> r.c_index, r.concordant, r.discordant
    (0.8, 4.0, 1.0)
    """
    t = np.asarray(time, float)
    e = np.asarray(event, float) == 1
    x = np.asarray(score, float)
    n = len(t)
    s = (np.zeros(n, np.int64) if strata is None
         else pd.factorize(np.asarray(strata), sort=True)[0].astype(np.int64))
    xr = _dense_rank(x)
    K = int(xr.max()) + 2 if n else 2
    # dense time ranks within strata
    tr_all = _dense_rank(t)
    tr = np.empty(n, np.int64)
    for st in np.unique(s):              # loop over strata
        m = s == st
        tr[m] = _dense_rank(tr_all[m])
    P = int(tr.max()) + 2 if n else 2
    # per subject: as the earlier event i (later j with smaller/equal/larger score)
    i_less = np.zeros(n, np.int64)
    i_eq = np.zeros(n, np.int64)
    i_gr = np.zeros(n, np.int64)
    # as the later subject j (earlier events i with larger/equal/smaller score)
    j_conc = np.zeros(n, np.int64)
    j_eq = np.zeros(n, np.int64)
    j_disc = np.zeros(n, np.int64)
    nbits = max(int(tr.max()).bit_length(), 1) if n else 1
    for b in range(nbits):               # loop over the bit levels of the time ranks
        bit = (tr >> b) & 1
        pre = s * P + (tr >> (b + 1))
        right = bit == 1
        left = (bit == 0) & e
        if not right.any() or not left.any():
            continue
        rk = np.sort(pre[right] * K + xr[right])
        li = np.flatnonzero(left)
        a, bq, c = _level_counts(pre[li] * K, xr[li], rk, K)
        i_less[li] += a
        i_eq[li] += bq
        i_gr[li] += c
        lk = np.sort(pre[left] * K + xr[left])
        ri = np.flatnonzero(right)
        a, bq, c = _level_counts(pre[ri] * K, xr[ri], lk, K)
        j_disc[ri] += a          # earlier events with a smaller score: discordant
        j_eq[ri] += bq
        j_conc[ri] += c
    # an event and a censoring at the same time: comparable (censored lives longer)
    cens = ~e
    pre = s * P + tr
    if cens.any() and e.any():
        ck = np.sort(pre[cens] * K + xr[cens])
        li = np.flatnonzero(e)
        a, bq, c = _level_counts(pre[li] * K, xr[li], ck, K)
        i_less[li] += a
        i_eq[li] += bq
        i_gr[li] += c
        ek = np.sort(pre[e] * K + xr[e])
        ci = np.flatnonzero(cens)
        a, bq, c = _level_counts(pre[ci] * K, xr[ci], ek, K)
        j_disc[ci] += a
        j_eq[ci] += bq
        j_conc[ci] += c
    # two events at the same time: tied on y (and on x when the scores are equal)
    _, cnt_t = np.unique(pre[e], return_counts=True)
    _, cnt_tx = np.unique(pre[e] * K + xr[e], return_counts=True)
    tied_xy = float(np.sum(cnt_tx * (cnt_tx - 1) / 2))
    tied_y = float(np.sum(cnt_t * (cnt_t - 1) / 2)) - tied_xy
    conc = float(i_less.sum())
    disc = float(i_gr.sum())
    tx = float(i_eq.sum())
    npair = conc + disc + tx
    if npair == 0:
        return ConcordanceResult(float("nan"), float("nan"), conc, disc, tx, tied_y, tied_xy,
                                 np.full(n, np.nan))
    cval = (conc + tx / 2) / npair
    ck_ = (i_less + j_conc).astype(float)
    dk_ = (i_gr + j_disc).astype(float)
    tk_ = (i_eq + j_eq).astype(float)
    infl = ((ck_ + tk_ / 2) * npair - (conc + tx / 2) * (ck_ + dk_ + tk_)) / npair ** 2
    se = float(np.sqrt(np.sum(infl ** 2)))
    per = None
    if strata is not None:
        labels = pd.factorize(np.asarray(strata), sort=True)[1]
        per = pd.DataFrame({"stratum": list(labels),
                            "concordant": np.bincount(s, i_less, len(labels)),
                            "discordant": np.bincount(s, i_gr, len(labels)),
                            "tied_x": np.bincount(s, i_eq, len(labels))})
    return ConcordanceResult(float(cval), se, conc, disc, tx, tied_y, tied_xy, infl, per)
