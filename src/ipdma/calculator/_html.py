"""Render a calculator spec as one self-contained HTML page (code, style and data inline)."""

from __future__ import annotations

import html
import json
from importlib import resources

__all__ = ["render_html"]


def _asset(name: str) -> str:
    return resources.files("ipdma.calculator").joinpath(name).read_text(encoding="utf-8")


def _minify(code: str) -> str:
    """A small deterministic minifier for the page's own JS / CSS: drops the leading
    block comment, whole-line ``//`` comments, indentation and blank lines.  Lines stay
    lines (no reliance on semicolon insertion changes) and nothing inside a line is
    touched, so strings and regular expressions cannot be broken."""
    text = code.lstrip()
    if text.startswith("/*"):
        text = text[text.index("*/") + 2:]
    out = []
    for line in text.splitlines():
        t = line.strip()
        if t and not t.startswith("//"):
            out.append(t)
    return "\n".join(out)


def _script_json(obj) -> str:
    """JSON safe inside <script>: no '</' sequence can close the element."""
    return json.dumps(obj, allow_nan=False, separators=(",", ":")).replace("</", "<\\/")


def _field(inp: dict) -> str:
    i = html.escape(inp["id"])
    hint = []
    if inp.get("unit"):
        hint.append(html.escape(inp["unit"]))
    if inp["type"] == "categorical":
        hint.append("one of: " + html.escape(", ".join(inp["levels"])))
    elif inp.get("allowed"):
        hint.append("one of: " + ", ".join(str(v) for v in inp["allowed"]))
    elif inp.get("min") is not None:
        hint.append(f"development range {inp['min']:g} to {inp['max']:g}")
    if inp.get("default") is not None:
        hint.append(f"default {html.escape(str(inp['default']))} "
                    f"({'mode' if inp['type'] == 'categorical' or inp.get('allowed') else 'median'})")
    describe = f'hint-{i} note-{i}'
    label = f'<label for="in-{i}">{html.escape(inp["label"])}</label>'
    default = "" if inp.get("default") is None else str(inp["default"])
    if inp["type"] == "categorical" or inp.get("allowed"):
        opts = inp["levels"] if inp["type"] == "categorical" else [str(v) for v in inp["allowed"]]
        options = '<option value="">(choose)</option>' + "".join(
            f'<option value="{html.escape(o)}"{" selected" if o == default else ""}>'
            f'{html.escape(o)}</option>' for o in opts)
        control = (f'<select id="in-{i}" name="{html.escape(inp["name"])}" '
                   f'aria-describedby="{describe}">{options}</select>')
    else:
        control = (f'<input id="in-{i}" name="{html.escape(inp["name"])}" type="text" '
                   f'inputmode="decimal" autocomplete="off" value="{html.escape(default)}" '
                   f'aria-describedby="{describe}">')
    return (f'<div class="field">{label}{control}'
            f'<div class="hint" id="hint-{i}">{"; ".join(hint)}</div>'
            f'<div class="note" id="note-{i}" aria-live="polite"></div></div>')


def render_html(spec: dict) -> str:
    """The calculator page for ``spec`` (see :mod:`ipdma.calculator`)."""
    title = html.escape(spec["title"])
    prov = spec["provenance"]
    prov_rows = "".join(f"<dt>{html.escape(k.replace('_', ' '))}</dt>"
                        f"<dd>{html.escape(str(v))}</dd>" for k, v in prov.items())
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in spec["notes"])
    fields = "".join(_field(inp) for inp in spec["inputs"])
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<meta name="generator" content="ipdma {html.escape(prov['ipdma_version'])}">
<title>{title}</title>
<style>{_minify(_asset("calculator.css"))}</style>
</head>
<body>
<header><h1>{title}</h1>
<p class="about">For use by clinicians together with clinical judgement. Enter the patient's
characteristics; the predictions update as you type. Nothing you enter leaves this page.</p>
</header>
<main class="layout">
<section aria-labelledby="h-inputs">
<h2 id="h-inputs">Patient</h2>
<form id="patient" onsubmit="return false" novalidate>
<fieldset><legend>Characteristics</legend>{fields}</fieldset>
<p><button type="button" id="reset">Reset to defaults</button></p>
</form>
<div id="messages" role="status" aria-live="polite"></div>
</section>
<section aria-labelledby="h-results">
<h2 id="h-results">Predictions</h2>
<p id="recommended" aria-live="polite"></p>
<table id="results" aria-describedby="h-results"></table>
<figure id="plot-figure"><div id="plot"></div>
<figcaption>{html.escape(spec["plot"]["title"] if spec.get("plot") else "")}: the patient
is the open circle.</figcaption></figure>
</section>
</main>
<section aria-labelledby="h-meaning">
<h2 id="h-meaning">What the numbers mean, and what they do not</h2>
<ul>{notes}
<li>These are model predictions for patients like those in the trials; they are not
guarantees for an individual. Values outside the development range are extrapolations.</li>
</ul>
</section>
<section aria-labelledby="h-prov" class="prov">
<h2 id="h-prov">Provenance</h2>
<dl>{prov_rows}</dl>
</section>
<script type="application/json" id="ipdma-spec">{_script_json(spec)}</script>
<script type="application/json" id="ipdma-result">{{}}</script>
<script>{_minify(_asset("calculator.js"))}</script>
</body>
</html>
"""
