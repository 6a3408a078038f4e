"""The array path of the time-to-event NMR design equals the general pandas path."""

import numpy as np
import pandas as pd
import pytest

from ipdma.datasets import make_survival_network
from ipdma.nmr._survival import _prepare_survival_pandas, prepare_survival


@pytest.mark.parametrize("variant", ["plain", "shuffled_int_trials", "object_labels"])
@pytest.mark.parametrize("centring", ["trial", "global", 0.25])
def test_array_path_matches_pandas_path(variant, centring):
    sim = make_survival_network(600, random_state=2)
    df = sim.data.assign(R=sim.truth["true_lp"].round(6))
    if variant == "shuffled_int_trials":
        df = df.sample(frac=1, random_state=1)
        df["trial"] = pd.factorize(df["trial"])[0] + 1
        df.index = df.index + 1000
    elif variant == "object_labels":
        df["trial"] = df["trial"].astype(object)
        df["treatment"] = df["treatment"].astype(object)
    kw = dict(trial="trial", treatment="treatment", time="time", event="event", risk="R",
              reference=None, centring=centring)
    a, b = prepare_survival(df, **kw), _prepare_survival_pandas(df, **kw)
    for key, va in vars(a).items():
        vb = vars(b)[key]
        if isinstance(va, np.ndarray):
            np.testing.assert_array_equal(va, vb, err_msg=key)
        else:
            assert va == vb, key
