"""Benchmark: causal-forest weights from B refits (``weighted-bootstrap``, the paper) vs the
forest's own variance estimate (``weighted-forest``, EconML's bootstrap of little bags).

Same data as ``bench_ite.py`` (make_ite_continuous scenario 13 by default: 10 trials of
300-600 patients, 3,000 test patients), one process (``n_jobs=1``) so that the seconds are
the CPU cost of each pair.  Prints per pair: stage-1 seconds (forest fits plus, for the
bootstrap, the K x B refits), stage-2 seconds (per-trial predictions, variances and
pooling at the test patients), the MAE against the true ITE, and the median ratio of the
two per-trial variances; then the time saved.  Needs ``pip install ipdma[causal-forest]``.

    python benchmarks/bench_forest_variance.py [--n-boot 20] [--n-estimators 400]
                                               [--scenario 13] [--trials 10]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", type=int, default=13)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--n-boot", type=int, default=20)
    ap.add_argument("--n-estimators", type=int, default=400)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    from ipdma.datasets import make_ite_continuous
    from ipdma.ite import TwoStageITE, learner_available

    if not learner_available("causal-forest"):
        raise SystemExit("EconML is not installed: pip install 'ipdma[causal-forest]'")
    sim = make_ite_continuous(scenario=args.scenario, random_state=args.seed,
                              n_trials=args.trials)
    covs = list(sim.columns["covariates"])
    test = sim.test[covs]
    truth = sim.test["ite_true"].to_numpy()
    load0 = os.getloadavg()
    opts = {"n_estimators": args.n_estimators}
    rows, var = [], {}
    for pooler in ("weighted-bootstrap", "weighted-forest"):
        m = TwoStageITE("causal-forest", pooler, n_boot=args.n_boot, random_state=args.seed,
                        learner_options=opts, n_jobs=1)
        t0 = time.process_time()
        w0 = time.perf_counter()
        m.fit(sim.ipd(), X_query=test)
        t1 = time.process_time()
        pred = m.predict(test)
        t2 = time.process_time()
        wall = time.perf_counter() - w0
        var[pooler] = m.pooler_.predict().per_trial_var
        mae = float(np.median(np.abs(pred["ite"].to_numpy() - truth)))
        rows.append((pooler, t1 - t0, t2 - t1, wall, mae, float(pred["se"].median())))
    load1 = os.getloadavg()
    print(f"scenario {args.scenario}, {args.trials} trials, {len(sim.data)} patients, "
          f"{len(test)} test patients; causal forest of {args.n_estimators} trees; "
          f"B = {args.n_boot}; load average {load0[0]:.1f} before, {load1[0]:.1f} after")
    print(f"{'pair':<34}{'stage1 CPU s':>13}{'stage2 CPU s':>13}{'wall s':>9}{'MAE':>8}"
          f"{'median se':>11}")
    for p, s1, s2, w, mae, se in rows:
        print(f"{'causal-forest+' + p:<34}{s1:>13.1f}{s2:>13.1f}{w:>9.1f}{mae:>8.3f}{se:>11.3f}")
    boot, forest = rows[0], rows[1]
    ratio = np.median(var["weighted-forest"] / var["weighted-bootstrap"])
    print(f"median per-trial variance ratio forest / bootstrap: {ratio:.2f}")
    print(f"time saved: {boot[1] + boot[2] - forest[1] - forest[2]:.1f} CPU s "
          f"({(boot[1] + boot[2]) / max(forest[1] + forest[2], 1e-9):.1f}x less CPU)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
