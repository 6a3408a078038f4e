"""IPD(..., time=, event=): time-to-event outcomes in the container."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipdma.data import IPD
from ipdma.errors import MissingDataError, ModelSpecificationError, OutcomeError


@pytest.fixture
def surv(ref_case):
    return ref_case("survival_prognostic").csv("surv_ipd.csv")


def test_time_event_container(surv):
    ipd = IPD(surv, trial="trial", treatment="trt", time="time", event="status",
              covariates=["x1", "x2"])
    assert ipd.outcome_type == "survival"
    assert (ipd.time_col, ipd.outcome_col) == ("time", "status")
    y = ipd.survival_outcome()
    assert (y.n, y.n_events) == (1675, 1023)
    tab = ipd.survival_table()
    # R: summary(survfit(Surv(time, 1 - status) ~ 1, data = <trial k, arm a>))$table["median"]
    np.testing.assert_allclose(tab["median_followup"],
                               [3.3, 3.1, 3.0, 3.2, 3.2, 3.6, 3.5, 3.4, 3.1, 3.4])
    tt = ipd.trial_table()
    np.testing.assert_allclose(tt["median_followup"], [3.2, 3.1, 3.5, 3.4, 3.3])
    assert tt["events"].tolist() == [172, 127, 206, 195, 323]
    assert "survival, 1023 events" in repr(ipd)
    assert "Time" in str(ipd.summary())
    sub = ipd.subset(["1", "2"])
    assert sub.survival_outcome().n == 525


def test_event_labels_and_outcome_form(surv):
    d = surv.assign(status=np.where(surv.status == 1, "dead", "alive"))
    ipd = IPD(d, trial="trial", treatment="trt", time="time", event="status")
    assert ipd.y.sum() == 1023 and ipd.outcome_coding == {"alive": 0, "dead": 1}
    ipd2 = IPD(d.assign(status=np.where(surv.status == 1, "b", "a")), trial="trial",
               treatment="trt", outcome="status", event="b", time="time")
    assert ipd2.y.sum() == 1023


def test_survival_input_errors(surv):
    kw = dict(trial="trial", treatment="trt", time="time", event="status")
    with pytest.raises(OutcomeError, match="zero or negative"):
        IPD(surv.assign(time=surv.time - 1), **kw)
    with pytest.raises(MissingDataError, match="time column 'time' has 1 missing"):
        IPD(surv.assign(time=surv.time.where(surv.index != 3)), **kw)
    with pytest.raises(OutcomeError, match="0 \\(censored\\) / 1"):
        IPD(surv.assign(status=surv.status + 1), **kw)
    no_ev = surv.assign(status=np.where((surv.trial == 2) & (surv.trt == 1), 0, surv.status))
    with pytest.raises(OutcomeError, match="no events in trial '2' arm '1'"):
        IPD(no_ev, **kw)
    with pytest.raises(ModelSpecificationError, match="needs time="):
        IPD(surv, trial="trial", treatment="trt", outcome="status", outcome_type="survival")
    with pytest.raises(ModelSpecificationError, match="event= naming"):
        IPD(surv, trial="trial", treatment="trt", time="time")
    with pytest.raises(ModelSpecificationError, match="outcome= "):
        IPD(surv, trial="trial", treatment="trt")
    with pytest.raises(OutcomeError, match="not a time to event"):
        IPD(surv, trial="trial", treatment="trt", outcome="status").survival_outcome()
    assert IPD(pd.DataFrame(surv), trial="trial", treatment="trt", outcome="status").time is None
