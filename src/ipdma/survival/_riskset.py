"""Sorted risk-set structure shared by the Cox partial likelihood, the
baseline hazards and the penalised Cox path.

Rows are sorted by (stratum, time).  The risk set of an event time t in stratum
s is every row of s with time >= t, i.e. the rows from the first row of the
time group onwards to the end of the stratum, so the risk-set sums are reverse
cumulative sums within strata.  Those sums loop over *strata* (a handful of
trials), never over patients: a single cumulative sum over all rows followed by
a subtraction would lose precision in the small late risk sets.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np

__all__ = ["RiskSets"]


def _starts(a: np.ndarray) -> np.ndarray:
    """True where a run of equal values of ``a`` begins."""
    out = np.empty(len(a), bool)
    if len(a):
        out[0] = True
        np.not_equal(a[1:], a[:-1], out=out[1:])
    return out


def _first(n: int) -> np.ndarray:
    out = np.zeros(n, bool)
    if n:
        out[0] = True
    return out


class RiskSets:
    """Precomputed, eta-independent structure of a right-censored sample.

    Parameters
    ----------
    time, event : arrays (n,)
    strata : integer codes (n,) or None
    weights : case weights (n,) or None
    """

    def __init__(self, time, event, strata=None, weights=None):
        time = np.asarray(time, float)
        event = np.asarray(event, float)
        n = len(time)
        st = None if strata is None else np.asarray(strata)
        # stable sort by (stratum, time); one stratum: a stable argsort of time is the same
        if strata is None:
            order = np.argsort(time, kind="stable")
        elif n > 1 and not np.any(st[1:] < st[:-1]):
            # rows already grouped by stratum (e.g. a design in canonical order): a stable
            # argsort of time within each stratum block is the same order, and cheaper
            cut = [0, *(np.flatnonzero(st[1:] != st[:-1]) + 1).tolist(), n]
            order = np.concatenate([s0 + np.argsort(time[s0:s1], kind="stable")
                                    for s0, s1 in itertools.pairwise(cut)])
        else:
            order = np.lexsort((time, st))
        self.n = n
        self.order = order
        self.time = time[order]
        self.event = event[order]
        self.strata = np.zeros(n, np.int64) if st is None else st[order]
        self.weights = np.ones(n) if weights is None else np.asarray(weights, float)[order]
        self.weighted = weights is not None
        # stratum bounds
        new_s = _starts(self.strata) if strata is not None else _first(n)
        self.s_start = np.flatnonzero(new_s)
        self.s_end = np.append(self.s_start[1:], n)
        self.stratum_labels = self.strata[self.s_start]
        # time groups (unique stratum x time)
        new_g = new_s | _starts(self.time)
        self.g_start = np.flatnonzero(new_g)
        self.group = np.cumsum(new_g) - 1                # group of each sorted row
        G = len(self.g_start)
        self.n_groups = G
        self.g_time = self.time[self.g_start]
        self.g_stratum = self.strata[self.g_start]
        dead = self.event == 1
        self.deaths = np.flatnonzero(dead)               # sorted row indices of deaths
        dg = self.group[self.deaths]
        self.death_group = dg
        self.g_ndead = np.bincount(dg, minlength=G)       # count of deaths per group
        self.g_deadwt = (np.bincount(dg, weights=self.weights[self.deaths], minlength=G)
                         if self.weighted else self.g_ndead.astype(float))
        first = _starts(dg)
        self.dg_start = np.flatnonzero(first)             # start of each death group in deaths
        sizes = np.diff(np.append(self.dg_start, len(dg)))
        rank = np.arange(len(dg)) - np.repeat(self.dg_start, sizes)
        self.death_rank = rank                            # 0..d_g-1 within its time group
        self.death_gidx = np.cumsum(first) - 1
        nd = self.g_ndead[dg]
        self.death_frac = rank / np.maximum(nd, 1)        # Efron's r / d_g
        self.death_meanwt = self.g_deadwt[dg] / np.maximum(nd, 1)
        self.event_groups = np.flatnonzero(self.g_ndead > 0)
        self._gs_bounds = (np.array([0, G]) if strata is None
                           else np.append(np.flatnonzero(_starts(self.g_stratum)), G))
        # row-level maps used by the Cox derivatives (computed once per sample)
        eg = self.event_groups
        self.g_deadwt_e = self.g_deadwt[eg]               # weighted deaths per event group
        self.eg_rows = self.g_start[eg]                   # first sorted row of each event group
        self.single_stratum = len(self.s_start) == 1
        self._rev_rows = n - 1 - self.eg_rows             # the same rows in reversed order
        # sum within time groups first when that shrinks the arrays enough to pay for the
        # per-group cost of ``reduceat`` (about that of a cumulative sum over 2-3 rows)
        self._grouped = G < 0.3 * n
        self._rev_eg = G - 1 - eg
        eg_strat = self.g_stratum[eg]
        # row -> 1 + index of the last event group at or before the row's time group in
        # the row's stratum (0: none), for forward cumulative sums over event groups
        last = np.cumsum(self.g_ndead > 0)[self.group]    # event groups up to the row's group
        ok = last > 0
        ok[ok] = eg_strat[last[ok] - 1] == self.strata[ok]
        self.row_eg = np.where(ok, last, 0)
        if not self.single_stratum:
            # padded (stratum x position) layouts: the within-stratum cumulative sums of
            # all strata become one cumulative sum along axis 1 (exact per stratum)
            S = len(self.s_start)
            gs = np.searchsorted(self._gs_bounds, np.arange(G), side="right") - 1
            self._g_pad = (gs, np.arange(G) - self._gs_bounds[gs],
                           S, int(np.max(np.diff(self._gs_bounds))))
            self._gs_pairs = list(itertools.pairwise(self._gs_bounds.tolist()))
            first_e = np.searchsorted(eg, self._gs_bounds)     # first event group per stratum
            es = gs[eg]                                        # stratum of each event group
            epos = np.arange(len(eg)) - first_e[es]
            self._e_pad = (es, epos + 1, S, int(np.max(np.diff(first_e))) + 1)
            row_s = np.searchsorted(self.s_start, np.arange(n), side="right") - 1
            row_pos = np.where(ok, last - first_e[row_s], 0)   # (last - 1) - first + 1
            self._row_pad = (row_s, row_pos)

    @functools.cached_property
    def g_ncens(self) -> np.ndarray:
        """Number of censored rows per time group."""
        return np.bincount(self.group[self.event != 1], minlength=self.n_groups)

    # ------------------------------------------------------------------ sums
    def rev_cumsum(self, a: np.ndarray) -> np.ndarray:
        """Reverse cumulative sum within strata along axis 0 (sorted rows)."""
        out = np.empty_like(a)
        for s0, s1 in zip(self.s_start, self.s_end, strict=True):   # loop over strata
            out[s0:s1] = np.cumsum(a[s0:s1][::-1], axis=0)[::-1]
        return out

    def cumsum(self, a: np.ndarray) -> np.ndarray:
        """Forward cumulative sum within strata along axis 0 (sorted rows)."""
        out = np.empty_like(a)
        for s0, s1 in zip(self.s_start, self.s_end, strict=True):   # loop over strata
            out[s0:s1] = np.cumsum(a[s0:s1], axis=0)
        return out

    def group_rev_cumsum_at_events(self, a: np.ndarray) -> np.ndarray:
        """Risk-set sums of ``a`` (sorted rows, (n, ...)) at the event groups only:
        sums per time group first, then a reverse cumulative sum over the groups of
        each stratum -- with tied times the arrays shrink from n rows to the number
        of distinct times."""
        g = np.add.reduceat(a, self.g_start, axis=0)
        out = np.empty_like(g)
        for s0, s1 in itertools.pairwise(self._gs_bounds):  # loop over strata
            out[s0:s1] = np.cumsum(g[s0:s1][::-1], axis=0)[::-1]
        return out[self.event_groups]

    def rev_at_events(self, a: np.ndarray) -> np.ndarray:
        """Risk-set sums of ``a`` (sorted rows, (n, ...)) at the event groups: reverse
        cumulative sums within strata taken at the first row of each event group."""
        if self._grouped:                  # ties: sum within time groups first
            g = np.add.reduceat(a, self.g_start, axis=0)
            if self.single_stratum:
                return np.cumsum(g[::-1], axis=0)[self._rev_eg]
            gs, pos, S, width = self._g_pad
            pad = np.zeros((S, width, *g.shape[1:]))
            pad[gs, pos] = g
            cs = np.cumsum(pad[:, ::-1], axis=1)[:, ::-1]
            eg = self.event_groups
            return cs[gs[eg], pos[eg]]
        if self.single_stratum:
            return np.cumsum(a[::-1], axis=0)[self._rev_rows]
        return self.rev_cumsum(a)[self.eg_rows]

    def rev_at_events_t(self, a: np.ndarray) -> np.ndarray:
        """:meth:`rev_at_events` of a transposed (k, n) array: (k, event groups).  The
        same sums in the same order; rows of a C-contiguous (k, n) array are cheaper to
        scale, sum and index than the columns of an (n, k) one."""
        if self._grouped:                  # ties: sum within time groups first
            g = np.add.reduceat(a, self.g_start, axis=1)
            if self.single_stratum:
                return np.cumsum(g[:, ::-1], axis=1)[:, self._rev_eg]
            out = np.empty_like(g)
            for s0, s1 in self._gs_pairs:                 # loop over strata
                np.cumsum(g[:, s1 - 1:s0 - 1 if s0 else None:-1], axis=1,
                          out=out[:, s1 - 1:s0 - 1 if s0 else None:-1])
            return out[:, self.event_groups]
        if self.single_stratum:
            return np.cumsum(a[:, ::-1], axis=1)[:, self._rev_rows]
        out = np.empty_like(a)
        for s0, s1 in zip(self.s_start.tolist(), self.s_end.tolist(), strict=True):
            rev = slice(s1 - 1, s0 - 1 if s0 else None, -1)  # loop over strata
            np.cumsum(a[:, rev], axis=1, out=out[:, rev])
        return out[:, self.eg_rows]

    def fwd_to_rows(self, v: np.ndarray) -> np.ndarray:
        """Cumulative sums over the event groups of each stratum of ``v`` (one value per
        event group), at every sorted row (the sum over the event groups at or before
        the row's time in its stratum; 0 before the first event)."""
        if self.single_stratum:
            c = np.empty((len(v) + 1, *v.shape[1:]))
            c[0] = 0.0
            np.cumsum(v, axis=0, out=c[1:])
            return c[self.row_eg]
        es, epos, S, width = self._e_pad
        pad = np.zeros((S, width, *v.shape[1:]))
        pad[es, epos] = v
        np.cumsum(pad, axis=1, out=pad)
        return pad[self._row_pad]

    def death_sum(self, a: np.ndarray) -> np.ndarray:
        """Sum of ``a`` (per sorted death row, shape (n_deaths, ...)) within each death
        group; returns one row per death group (in the order of ``event_groups``)."""
        if len(a) == 0:
            return a
        return np.add.reduceat(a, self.dg_start, axis=0)

    def n_risk(self) -> np.ndarray:
        """Unweighted number at risk at each time group."""
        return self.rev_cumsum(np.ones(self.n))[self.g_start]
