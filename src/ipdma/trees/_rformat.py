"""Number formatting that reproduces R's ``print``/``format`` output (used by the
partykit-style tree printout)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _sig_exp(x: float, digits: int) -> tuple[int, int]:
    """(significant digits needed, decimal exponent) of |x| shown with ``digits`` digits."""
    if x == 0 or not np.isfinite(x):
        return 1, 0
    s = f"{abs(x):.{digits - 1}e}"
    mant, exp = s.split("e")
    mant = mant.replace(".", "").rstrip("0")
    return max(len(mant), 1), int(exp)


def format_r(values: Sequence[float] | float, digits: int = 7) -> list[str]:
    """Format numbers with a common layout as R's ``format(x, digits = digits)``.

    Fixed notation with the number of decimals needed to show every value with at most
    ``digits`` significant digits (trailing zeros dropped), unless scientific notation is
    narrower.
    """
    vals = np.atleast_1d(np.asarray(values, dtype=float))
    fin = vals[np.isfinite(vals)]
    if fin.size == 0:
        return ["NA" if np.isnan(v) else ("Inf" if v > 0 else "-Inf") for v in vals]
    rgt = 0
    left = 1
    maxsig = 1
    maxexp = 0
    minexp = 0
    neg = 0
    for v in fin:
        sig, e = _sig_exp(v, digits)
        maxsig = max(maxsig, sig)
        rgt = max(rgt, sig - 1 - e)
        ln = (e + 1 if e >= 0 else 1) + (1 if v < 0 else 0)
        left = max(left, ln)
        maxexp = max(maxexp, e)
        minexp = min(minexp, e)
        neg = max(neg, 1 if v < 0 else 0)
    rgt = max(rgt, 0)
    fixed_width = left + (1 + rgt if rgt > 0 else 0)
    ewidth = 4 if max(abs(maxexp), abs(minexp)) < 100 else 5
    sci_width = neg + (maxsig + 1 if maxsig > 1 else maxsig) + ewidth
    out = []
    for v in vals:
        if np.isnan(v):
            out.append("NA")
        elif not np.isfinite(v):
            out.append("Inf" if v > 0 else "-Inf")
        elif fixed_width <= sci_width:
            out.append(f"{v:.{rgt}f}")
        else:
            s = f"{v:.{maxsig - 1}e}"
            mant, exp = s.split("e")
            out.append(f"{mant}e{int(exp):+03d}")
    return out


def format_num(value: float, digits: int = 7) -> str:
    """R's ``format(value, digits = digits)`` for one number."""
    return format_r([value], digits)[0]


def print_named_vector(values: Sequence[float], names: Sequence[str], digits: int = 7,
                       width: int = 80) -> list[str]:
    """Lines of R's ``print()`` of a named numeric vector."""
    txt = format_r(values, digits)
    w = max(max(len(t) for t in txt), max(len(str(n)) for n in names))
    per_line = max(1, width // (w + 1))
    lines = []
    for start in range(0, len(txt), per_line):
        chunk = range(start, min(start + per_line, len(txt)))
        lines.append("".join(f"{names[i]!s:>{w}} " for i in chunk))
        lines.append("".join(f"{txt[i]:>{w}} " for i in chunk))
    return lines


def r_character(x: float) -> str:
    """R's ``as.character`` of a double (15 significant digits)."""
    s = f"{x:.15g}"
    if "e" in s:
        mant, exp = s.split("e")
        s = f"{mant}e{int(exp):+03d}"
    return s
