"""Per-patient treatment calculators: a fitted model as one self-contained HTML page.

:func:`export_calculator` writes a page that a clinician opens offline (no server, no
network: code, style and model inline), types in a patient and reads the prediction
under each treatment.  Python builds a *calculator spec* (:func:`calculator_spec`: plain
JSON with the inputs, model parameters, interval constants and provenance); one generic
JavaScript evaluator embedded in the page computes the predictions with the same
arithmetic as the model's ``predict``.  Model kinds: risk-based NMR (with its stage-1
risk model), two-stage ITE (pooled coefficients) and MOB / metaMOB subgroup trees.
"""

from ._export import calculator_spec, export_calculator
from ._html import render_html
from ._inputs import covariate_inputs
from ._spec import EXPORTABLE_ITE, FORMAT, SUPPORTED_KINDS, VERSION

__all__ = ["EXPORTABLE_ITE", "FORMAT", "SUPPORTED_KINDS", "VERSION", "calculator_spec",
           "covariate_inputs", "export_calculator", "render_html"]
