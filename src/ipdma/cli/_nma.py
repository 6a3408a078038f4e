"""``ipdma nma``: aggregate-data (contrast-based) network meta-analysis."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import emit, read_csv, split_list

_GROUPS = {"events": ("events", "n"), "mean": ("mean", "sd", "n"), "te": ("te", "se")}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "nma", help="aggregate-data network meta-analysis (as netmeta)",
        description="Contrast-based network meta-analysis of arm-level (or contrast-level) "
                    "aggregate data: common effect or random effects with the consistency "
                    "structure (tau^2 by netmeta's generalised DerSimonian-Laird, REML or "
                    "ML), Q decomposition (within / between designs), I^2, league table "
                    "with CIs and prediction intervals, P-scores and SUCRA, node-splitting. "
                    "Give one of --events/--n, --mean/--sd/--n or --te/--se.")
    p.add_argument("file", metavar="FILE.csv", help="one row per study arm (or per contrast "
                                                   "with --treatment2)")
    p.add_argument("--study", required=True, metavar="COL", help="study identifier column")
    p.add_argument("--treatment", required=True, metavar="COL", help="treatment column")
    p.add_argument("--treatment2", metavar="COL", default=None,
                   help="second treatment column: each row is the contrast --treatment vs "
                        "--treatment2 given by --te/--se (multi-arm studies give all pairs)")
    p.add_argument("--events", metavar="COL", default=None, help="events per arm (binary)")
    p.add_argument("--n", metavar="COL", default=None, help="patients per arm")
    p.add_argument("--mean", metavar="COL", default=None, help="arm mean (continuous)")
    p.add_argument("--sd", metavar="COL", default=None, help="arm standard deviation")
    p.add_argument("--te", metavar="COL", default=None,
                   help="given estimate: arm-level (e.g. log odds), or the contrast with "
                        "--treatment2")
    p.add_argument("--se", metavar="COL", default=None, help="standard error of --te")
    p.add_argument("--measure", choices=["OR", "RR", "RD", "MD", "SMD"], type=str.upper,
                   default=None, help="effect measure (default OR for --events, MD for "
                                      "--mean); OR/RR are analysed on the log scale")
    p.add_argument("--method", choices=["common", "DL", "REML", "ML"], default="DL",
                   help="common effect, or random effects with tau^2 by generalised "
                        "DerSimonian-Laird (default, as netmeta), REML or ML")
    p.add_argument("--tau2", type=float, default=None, metavar="X",
                   help="fix tau^2 at X (random effects; overrides --method)")
    p.add_argument("--reference", default=None, metavar="TRT",
                   help="reference treatment (default: a placebo/control-like label, else "
                        "the treatment in most studies)")
    p.add_argument("--treatment-order", default=None, metavar="A,B,...",
                   help="order of the treatments in tables (the league direction); no "
                        "estimate depends on it. Default: the reference, then sorted")
    p.add_argument("--small-values", choices=["good", "bad"], default="good",
                   help="are small effects desirable? decides P-scores and SUCRA (default "
                        "good, as netmeta; use bad for an OR of a beneficial outcome)")
    p.add_argument("--incr", type=float, default=0.5, metavar="X",
                   help="continuity correction added to all cells of a study with a zero "
                        "cell (default 0.5; 0 switches it off)")
    p.add_argument("--level", type=float, default=0.95, help="interval coverage (0.95)")
    p.add_argument("--seed", type=int, default=2026, help="seed of the SUCRA simulation")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=run)


def _check(args: argparse.Namespace, columns) -> dict:
    from ..errors import ModelSpecificationError, column_not_found

    given = [k for k in _GROUPS if getattr(args, k) is not None]
    if len(given) != 1:
        raise ModelSpecificationError(
            "give exactly one kind of input: --events COL --n COL (binary), --mean COL --sd "
            "COL --n COL (continuous) or --te COL --se COL (given estimates)"
            + (f"; got {', '.join('--' + g for g in given)}" if given else ""))
    kind = given[0]
    for opt in _GROUPS[kind]:
        if getattr(args, opt) is None:
            raise ModelSpecificationError(f"--{kind} needs --{opt} COL")
    extra = [o for k, opts in _GROUPS.items() if k != kind for o in opts
             if o not in _GROUPS[kind] and getattr(args, o) is not None]
    if extra:
        raise ModelSpecificationError(
            f"--{extra[0]} does not go with --{kind} (give one kind of input)")
    if args.treatment2 is not None and kind != "te":
        raise ModelSpecificationError("--treatment2 (contrast rows) goes with --te/--se only")
    if args.measure is not None:
        ok = {"events": ("OR", "RR", "RD"), "mean": ("MD", "SMD"), "te": ()}[kind]
        if kind == "te":
            raise ModelSpecificationError(
                "--measure applies to --events or --mean input; with --te the estimates are "
                "analysed as given")
        if args.measure not in ok:
            raise ModelSpecificationError(
                f"--measure {args.measure} does not fit --{kind} input: choose one of "
                f"{', '.join(ok)}")
    if args.tau2 is not None and not args.tau2 >= 0:
        raise ModelSpecificationError(f"--tau2 must be >= 0, not {args.tau2}")
    if not 0 < args.level < 1:
        raise ModelSpecificationError(f"--level must be between 0 and 1, not {args.level}")
    if args.incr < 0:
        raise ModelSpecificationError(f"--incr must be >= 0, not {args.incr}")
    cols = {"study": args.study, "treatment": args.treatment, "treatment2": args.treatment2}
    cols.update({o: getattr(args, o) for o in _GROUPS[kind]})
    for opt, col in cols.items():
        if col is not None and col not in columns:
            raise column_not_found(col, columns, f"--{opt}", where=str(args.file))
    return {o: getattr(args, o) for o in _GROUPS[kind]}


def run(args: argparse.Namespace) -> int:
    import matplotlib.pyplot as plt

    from ..meta import network_meta_analysis
    from ..report import Report

    df = read_csv(args.file)
    inputs = _check(args, df.columns)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res = network_meta_analysis(
        df, study=args.study, treatment=args.treatment, treatment2=args.treatment2,
        measure=args.measure, method=args.method, tau2=args.tau2, reference=args.reference,
        treatment_order=split_list(args.treatment_order), incr=args.incr,
        small_values=args.small_values, level=args.level,
        random_state=args.seed, **inputs)
    tables = {"estimates": res.to_frame(), "league": res.league(),
              "league_matrix": res.league(kind="matrix"), "pscores": res.pscores(),
              "heterogeneity": res.heterogeneity(),
              "design_heterogeneity": res.design_heterogeneity(), "netsplit": res.netsplit(),
              "contrasts": res.contrasts.to_frame()}
    files = {}
    for name, tab in tables.items():
        path = out / f"{name}.csv"
        tab.to_csv(path, index=name == "league_matrix")
        files[name] = str(path)
    rep = Report("Network meta-analysis", subtitle=str(args.file))
    sec = rep.section("Model")
    sec.html(res.summary().as_html())
    sec.code(" ".join(["ipdma", "nma", *_argv(args)]), caption="Command")
    figs = rep.section("Figures")
    captions = {"network": "Network graph (edge width and label: number of studies)",
                "forest": f"Each treatment vs {res.reference} ({args.level:.0%} CI"
                          + (", dashed: prediction interval)" if res.is_random else ")"),
                "netsplit": "Direct, indirect and network estimates (node-splitting)"}
    for kind, caption in captions.items():
        if kind == "netsplit" and tables["netsplit"].empty:
            continue
        ax = res.plot(kind=kind)
        ax.figure.savefig(out / f"{kind}.png", dpi=130, bbox_inches="tight")
        files[f"plot_{kind}"] = str(out / f"{kind}.png")
        figs.figure(ax, caption=caption)
    plt.close("all")
    lt = rep.section("League table", intro="Cell (row, column): row treatment vs column "
                                            "treatment with its CI"
                                            + (" (odds/risk ratios)" if res.measure in
                                               ("OR", "RR") else ""))
    lt.table(tables["league_matrix"])
    lt.table(tables["league"], caption="All pairs", index=False)
    other = rep.section("Ranking, heterogeneity and inconsistency")
    other.table(tables["pscores"], caption=f"P-scores and SUCRA (small values "
                                           f"{args.small_values})", index=False)
    other.table(tables["heterogeneity"], caption="Q decomposition", index=False)
    if not tables["netsplit"].empty:
        other.table(tables["netsplit"], caption="Node-splitting (back-calculation)",
                    index=False)
    index = rep.write(out)
    files["report"] = str(index)
    payload = {
        "method": res.method, "measure": res.measure, "reference": res.reference,
        "treatments": res.treatments, "small_values": res.small_values,
        "n_studies": res.n_studies, "n_contrasts": res.k, "tau2": res.tau2,
        "I2": {"I2": res.I2, "lower": res.I2_lower, "upper": res.I2_upper},
        "estimates": tables["estimates"], "vcov": res.vcov.to_numpy().tolist(),
        "league": tables["league"], "pscores": tables["pscores"],
        "heterogeneity": tables["heterogeneity"], "netsplit": tables["netsplit"],
        "files": files}
    emit(args, text=f"{res.summary()}\n\nwritten to {index.parent}", payload=payload)
    return 0


def _argv(args: argparse.Namespace) -> list[str]:
    parts = [str(args.file)]
    for name in ("study", "treatment", "treatment2", "events", "n", "mean", "sd", "te", "se",
                 "measure", "method", "tau2", "reference", "treatment_order", "small_values",
                 "incr", "level", "seed", "out"):
        val = getattr(args, name, None)
        if val not in (None, ""):
            parts += [f"--{name.replace('_', '-')}", str(val)]
    return parts
