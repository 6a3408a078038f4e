"""``ipdma pool``: stage 2 of the two-stage ITE meta-analysis from exported site summaries."""

from __future__ import annotations

import argparse
from pathlib import Path

from .._lazy import lazy_module
from ._common import emit, id_columns, nonneg_int, status
from ._ite import _POOLERS, _heterogeneity, read_new_patients

np = lazy_module("numpy")   # not imported by the parser (fast --help)
pd = lazy_module("pandas")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "pool", help="pool exported ITE site summaries (stage 2, no patient rows)",
        description="Pool the site summaries written by `ipdma ite --export-sites` (or "
                    "ipdma.ite.fit_site) at each site: reads every site_*.json / site_*.npz in "
                    "SITES_DIR, sorts them by trial label (so the result does not depend on "
                    "file order, bit for bit) and writes DIR/predictions.csv for the patients "
                    "of --predict. Multi-arm summaries of a treatment network (written by "
                    "`ipdma ite --export-sites` with more than two treatments) are pooled "
                    "with the network stage 2: predictions.csv then has ite_<T>_vs_<REF> "
                    "(+ se, intervals), best_treatment and p_best_<T>, and "
                    "predictions_all_pairs.csv every pair.")
    p.add_argument("sites", metavar="SITES_DIR", help="folder of site summary files")
    p.add_argument("--pooler", choices=_POOLERS, default=None,
                   help="stage-2 pooler (default: the one the summaries were exported for)")
    p.add_argument("--method", choices=["reml", "ml", "fixed", "mm"], default="reml",
                   help="between-trial covariance estimator of the mvma pooler")
    p.add_argument("--heterogeneity", default="fixed", type=_heterogeneity,
                   metavar="fixed|DL|REML|PM", help="weighted poolers: fixed or random effects")
    p.add_argument("--seed", type=nonneg_int, default=1,
                   help="random seed (Bayesian poolers; P(best) of a treatment network)")
    p.add_argument("--reference", default=None, metavar="TRT",
                   help="treatment network: the network reference of ite_<T>_vs_<TRT> "
                        "(default: the one the sites were exported with)")
    p.add_argument("--lower-is-better", action="store_true",
                   help="treatment network: lower outcome values are better (best "
                        "treatment, P(best))")
    p.add_argument("--predict", metavar="NEW.csv", default=None,
                   help="covariates of the patients to predict (needed by mvma and the "
                        "Bayesian poolers; the weighted poolers use the sites' query points)")
    p.add_argument("--patient-id", metavar="COL", default=None,
                   help="identifier column of NEW.csv copied to predictions.csv")
    p.add_argument("--id", metavar="COL,...", default=None, dest="id_columns",
                   help="extra identifier columns of NEW.csv copied to predictions.csv")
    p.add_argument("--na-values", metavar="V1,V2,...", default=None,
                   help="cell values of NEW.csv read as missing besides empty cells and NA")
    p.add_argument("--sep", metavar="CHAR", default=None, help="field delimiter (detected)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def load_sites(folder: str | Path) -> list:
    """Every site summary in ``folder``, sorted by trial label (natural order, as
    ``TwoStageITE.trials_``)."""
    from ..errors import DataError
    from ..ite import SiteSummary
    from ..ite._twostage import _natural_key

    d = Path(folder)
    if not d.is_dir():
        raise DataError(f"SITES_DIR {str(d)!r} is not a folder of site summary files")
    files = sorted([*d.glob("*.json"), *d.glob("*.npz")])
    if not files:
        raise DataError(f"SITES_DIR {str(d)!r} holds no .json or .npz site summary: write them "
                        "with `ipdma ite ... --export-sites`")
    sums = []
    for f in files:
        try:
            sums.append(SiteSummary.load(f))
        except (ValueError, KeyError, TypeError, OSError) as exc:
            if isinstance(exc, DataError):
                raise
            raise DataError(f"{str(f)!r} is not an ipdma ITE site summary "
                            f"({type(exc).__name__})") from None
    trials = [s.trial for s in sums]
    dup = sorted({t for t in trials if trials.count(t) > 1})
    if dup:
        raise DataError(f"SITES_DIR {str(d)!r} holds several summaries of trial(s) {dup}: keep "
                        "one file per trial")
    names = {tuple(s.feature_names) for s in sums}
    if len(names) > 1:
        raise DataError(f"the site summaries in {str(d)!r} use different covariates "
                        f"({sorted(names)}): export them with the same --covariates")
    # the trial order of TwoStageITE.trials_, so pooling the files gives its numbers exactly
    return sorted(sums, key=lambda s: _natural_key(s.trial))


def run(args: argparse.Namespace) -> int:
    from ..errors import ModelSpecificationError
    from ..ite import pool_sites

    sums = load_sites(args.sites)
    pooler = args.pooler or sums[0].pooler
    if not pooler:
        raise ModelSpecificationError("the site summaries do not name their pooler: give "
                                      "--pooler")
    covs = list(sums[0].feature_names)
    raw = list(dict.fromkeys(c.split("[", 1)[0] for c in covs))
    new = read_new_patients(args, args.predict, raw) if args.predict else None
    opts: dict = {}
    if pooler == "mvma":
        opts["method"] = args.method
    elif pooler.startswith("weighted"):
        opts["heterogeneity"] = args.heterogeneity
    elif pooler.startswith("bayes") or pooler == "posterior-mix":
        opts["random_state"] = args.seed
    if new is None and pooler in ("mvma", "bayes-mvma", "posterior-mix"):
        raise ModelSpecificationError(f"--pooler {pooler} predicts at new covariates: give "
                                      "--predict NEW.csv")
    if any(hasattr(s, "arms") for s in sums):     # multi-arm: a treatment network
        return _run_network(args, sums, pooler, new)
    if args.reference is not None or args.lower_is_better:
        raise ModelSpecificationError(
            "--reference and --lower-is-better apply to treatment networks; these site "
            "summaries compare two treatments: drop them")
    status(f"pooling {len(sums)} site summaries with {pooler}")
    pred = pool_sites(sums, pooler, X_new=new, **opts)
    pred = pred.drop(columns=[c for c in ("tau2",) if c in pred.columns]).reset_index(drop=True)
    if new is not None:
        ids = new[id_columns(args, new.columns)].reset_index(drop=True)
        ids.insert(0, "row", np.arange(1, len(new) + 1))
        pred = pd.concat([ids, pred], axis=1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "predictions.csv"
    pred.to_csv(path, index=False)
    trials = [s.trial for s in sums]
    emit(args, text=f"pooled {len(sums)} sites ({', '.join(trials)}) with {pooler}: "
                    f"{len(pred)} predictions, mean ITE {pred['ite'].mean():.4g}\n"
                    f"files: predictions={path}",
         payload={"pooler": pooler, "trials": trials, "covariates": covs,
                  "n_predictions": len(pred), "files": {"predictions": str(path)}})
    return 0


def _run_network(args: argparse.Namespace, sums: list, pooler: str, new) -> int:
    """``ipdma pool`` on multi-arm site summaries of a treatment network."""
    from ..errors import ModelSpecificationError
    from ..ite._network_federation import pool_network_sites
    from ..ite._network_ite import NETWORK_POOLERS, network_predict

    if pooler not in NETWORK_POOLERS:
        raise ModelSpecificationError(
            f"--pooler {pooler} is not available with more than two treatments; use "
            f"--pooler {' or '.join(NETWORK_POOLERS)}")
    opts: dict = {}
    if pooler == "mvma":
        if args.method == "mm":
            raise ModelSpecificationError(
                "--method mm is not available for a treatment network: use reml, ml or fixed")
        opts["method"] = args.method
    else:
        if args.heterogeneity not in ("fixed", "DL"):
            raise ModelSpecificationError(
                f"--heterogeneity {args.heterogeneity} is not available for a treatment "
                "network: use fixed or DL")
        opts["heterogeneity"] = args.heterogeneity
    blocks = [s.trial for s in sums if s.has("coef")]
    if new is None and blocks:
        raise ModelSpecificationError(
            f"the summaries of {', '.join(blocks)} hold treatment blocks: give --predict "
            "NEW.csv (the patients to predict)")
    status(f"pooling {len(sums)} multi-arm site summaries with {pooler}")
    model = pool_network_sites(sums, pooler, reference=args.reference,
                               higher_is_better=not args.lower_is_better,
                               random_state=args.seed, **opts)
    X = new if new is not None else sums[0].X_query
    if new is None and any(not np.array_equal(s.X_query, X) for s in sums):
        raise ModelSpecificationError("the sites exported different query points: give "
                                      "--predict NEW.csv")
    pred = network_predict(model, X).reset_index(drop=True)
    pairs = model.predict_pairs(X).reset_index(drop=True)
    if new is not None:
        ids = new[id_columns(args, new.columns)].reset_index(drop=True)
        ids.insert(0, "row", np.arange(1, len(new) + 1))
        pred = pd.concat([ids, pred], axis=1)
        pairs = pd.concat([ids, pairs], axis=1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = {"predictions": str(out / "predictions.csv"),
             "predictions_all_pairs": str(out / "predictions_all_pairs.csv")}
    pred.to_csv(files["predictions"], index=False)
    pairs.to_csv(files["predictions_all_pairs"], index=False)
    trials = [s.trial for s in sums]
    net = model.network_
    means = {c[4:]: float(pred[c].mean()) for c in pred.columns if c.startswith("ite_")}
    counts = pred["best_treatment"].value_counts()
    best = {t: int(counts.get(t, 0)) for t in net.treatments}
    emit(args, text=f"pooled {len(sums)} sites ({', '.join(trials)}) of a treatment network "
                    f"({', '.join(net.treatments)}; reference {net.reference}) with {pooler}: "
                    f"{len(pred)} predictions\nmean ITE: "
                    + ", ".join(f"{k} {v:.4g}" for k, v in means.items())
                    + "\nbest treatment: " + ", ".join(f"{k} {v}" for k, v in best.items())
                    + "\nfiles: " + ", ".join(f"{k}={v}" for k, v in files.items()),
         payload={"pooler": pooler, "trials": trials, "covariates": list(sums[0].feature_names),
                  "treatments": net.treatments, "reference": net.reference,
                  "n_predictions": len(pred), "mean_ite": means, "best_counts": best,
                  "files": files})
    return 0
