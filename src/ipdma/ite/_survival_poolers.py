"""Stage 2 for time-to-event outcomes: the ``mvma`` pooler's predictions.

The per-trial treatment blocks ``theta_l = (delta_l, gamma_l)`` on the
log-hazard scale are pooled by multivariate meta-analysis (as ``rma.mv``);
the pooled conditional log hazard ratio of a patient is ``c'theta`` with
``c = (1, x)``.  On an absolute scale the pooled log hazard ratio is applied to
each trial's own control-arm prediction (its control-arm log hazard and
baseline), and the ITEs are averaged over the trials with equal weights::

    ITE(x) = (1/K) sum_l [ f_l(eta0_l(x) + c'theta) - f_l(eta0_l(x)) ]

with ``f_l`` = S_l(horizon | eta) or RMST_l(tau | eta).  The standard error is
the delta method over ``theta`` (the baselines and control-arm models are taken
as known): ``se = |(1/K) sum_l f_l'(eta1_l)| sqrt(c'Var(theta)c)``; the
prediction interval adds Psi.
"""

from __future__ import annotations

import numpy as np

from .._lazy import lazy_module
from ..errors import OutcomeError
from ..families import baseline_from_dict, get_family
from ._learners import ite_contrast

stats = lazy_module("scipy.stats")   # imported when first used

__all__ = ["UnweightedITEPooler", "survival_mvma_predict"]


def survival_mvma_predict(pooler, X: np.ndarray):
    """Pooled ITEs of :class:`~ipdma.ite.MVMAPooler` for a time-to-event outcome."""
    from ._poolers import PooledITE

    sums = pooler.summaries_
    s0 = sums[0]
    fam = get_family("survival", horizon=s0.horizon, tau=s0.tau)
    scale = fam.check_scale(s0.scale or None)
    C = ite_contrast(X)
    lhr = C @ pooler.coef_
    var = np.einsum("ij,jk,ik->i", C, pooler.vcov_, C)
    pvar = None if pooler.method == "fixed" else \
        var + np.einsum("ij,jk,ik->i", C, pooler.Psi_, C)
    per_lhr = C @ np.vstack([s.coef for s in sums]).T
    z = pooler._z
    K = len(sums)
    info = {"method": pooler.method, "structure": pooler._structure, "scale": scale}
    if scale == "loghr":
        ite, deriv = lhr, np.ones(len(lhr))
        per_trial = per_lhr
        p0 = p1 = None
    else:
        A0, A1, D1, per = [], [], [], []
        for j, s in enumerate(sums):                     # loop over trials
            if s.baseline is None or s.eta0_coef is None:
                raise OutcomeError(
                    f"the site summary of trial {s.trial!r} has no baseline hazard, which "
                    f"the {scale!r} scale needs: re-run stage 1 with a cox or weibull learner")
            base = baseline_from_dict(s.baseline)
            kw = {"baseline": base}
            eta0 = C @ np.asarray(s.eta0_coef, dtype=float)
            try:
                A0.append(fam.arm_value(eta0, scale, **kw))
            except OutcomeError as exc:
                raise OutcomeError(f"trial {s.trial!r}: {exc}") from None
            A1.append(fam.arm_value(eta0 + lhr, scale, **kw))
            D1.append(fam.arm_value_deriv(eta0 + lhr, scale, **kw))
            per.append(fam.arm_value(eta0 + per_lhr[:, j], scale, **kw) - A0[-1])
        p0, p1 = np.mean(A0, axis=0), np.mean(A1, axis=0)
        ite = p1 - p0
        deriv = np.mean(D1, axis=0)
        per_trial = np.column_stack(per)
    se = np.abs(deriv) * np.sqrt(var)
    out = PooledITE(ite=ite, per_trial=per_trial, trials=pooler.trials_, se=se,
                    ci_low=ite - z * se, ci_high=ite + z * se, p0=p0, p1=p1, info=info)
    if pvar is not None:
        q = (stats.t.ppf(0.5 + pooler.level / 2, K - 2) if pooler.pi_df == "riley" and K > 2
             else z)
        sp = np.abs(deriv) * np.sqrt(pvar)
        out.pi_low, out.pi_high = ite - q * sp, ite + q * sp
    return out


def _unweighted_pooler():
    from ._poolers import PooledITE, WeightedITEPooler

    class UnweightedITEPooler(WeightedITEPooler):
        """(b) with equal weights: the unweighted mean of the per-trial ITEs.

        ``ITE(x) = (1/K) sum_l ITE_l(x)``, ``se = sqrt(sum_l v_l(x)) / K`` with the
        per-trial delta-method variances ``v_l`` (auxiliary Cox model, as
        ``weighted-aux-ols``); ``p0``/``p1`` are the unweighted means of the per-arm
        survival probabilities (RMSTs).  This is the "average of the trials'
        predictions" of the ``ite_twostage_survival`` reference.

        Examples
        --------
        >>> from ipdma.ite import get_pooler
        >>> get_pooler("unweighted").name, get_pooler("unweighted").variance
        ('unweighted', 'aux-ols')
        """

        families = frozenset({"survival"})

        def __init__(self, *, level: float = 0.95) -> None:
            super().__init__(variance="aux-ols", heterogeneity="fixed", level=level)

        @property
        def name(self) -> str:  # type: ignore[override]
            return "unweighted"

        def get_params(self):
            return {"level": self.level}

        def predict(self, X_new=None):
            self._check_fitted()
            out = super().predict(X_new)
            Y, V = out.per_trial, out.per_trial_var
            K = Y.shape[1]
            ite = Y.mean(axis=1)
            se = np.sqrt(V.sum(axis=1)) / K
            z = self._z
            res = PooledITE(ite=ite, per_trial=Y, trials=self.trials_, se=se,
                            ci_low=ite - z * se, ci_high=ite + z * se,
                            weights=np.full(Y.shape, 1.0 / K), per_trial_var=V,
                            info={"weights": "equal"})
            return self._arms(res)

    return UnweightedITEPooler


UnweightedITEPooler = _unweighted_pooler()


def _register() -> None:
    from ._poolers import POOLERS

    POOLERS.setdefault("unweighted", UnweightedITEPooler)


_register()
