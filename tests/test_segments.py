"""Customer segments: the status rule, RFM quintile scores and input checks."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clvmodels as clv
from clvmodels.exceptions import NotFittedError
from clvmodels.segments import SEGMENTS, customer_segments, quintile_scores


class FixedAlive:
    """A stand-in transaction model whose P(alive) is given per customer."""

    time_unit_ = "W"

    def __init__(self, alive):
        self.params_ = pd.Series({"dummy": 1.0})
        self.alive = np.asarray(alive, dtype=float)

    def probability_alive(self, data):
        return pd.Series(self.alive, index=data.index)


def _rule(alive, T, new_T, inactive, at_risk):
    """The documented rule, written out independently."""
    labels = []
    for p, t in zip(alive, T):
        if t < new_T:
            labels.append("new")
        elif p < inactive:
            labels.append("inactive")
        elif p < at_risk:
            labels.append("at risk")
        else:
            labels.append("active")
    return labels


def test_segments_on_cdnow(bg, rfm):
    table = customer_segments(bg, rfm)
    assert table.index.equals(rfm.index)
    assert list(table.columns) == [
        "probability_alive", "segment", "recency_score", "frequency_score", "monetary_score", "rfm_score",
    ]
    np.testing.assert_allclose(table["probability_alive"], bg.probability_alive(rfm))
    assert list(table["segment"].cat.categories) == list(SEGMENTS)
    # Default new-customer age: min(max T / 4, 90 days) = 38.86 / 4 weeks; CDNOW customers are all older.
    assert table.attrs["new_customer_T"] == pytest.approx(rfm["T"].max() / 4)
    assert (table["segment"] == "new").sum() == 0
    expected = _rule(table["probability_alive"], rfm["T"], table.attrs["new_customer_T"], 0.2, 0.5)
    assert table["segment"].astype(str).tolist() == expected
    # BG/NBD: no repeat purchase means P(alive) = 1, hence active.
    assert (table.loc[rfm["frequency"] == 0, "segment"] == "active").all()
    assert table["segment"].value_counts().sum() == len(rfm)


def test_rfm_scores_on_cdnow(bg, gg, rfm):
    table = customer_segments(bg, rfm)
    for column in ("recency_score", "frequency_score", "monetary_score"):
        assert table[column].between(1, 5).all()
    # 1,411 of 2,357 customers made no repeat purchase: they share the lowest frequency score.
    assert (table.loc[rfm["frequency"] == 0, "frequency_score"] == 1).all()
    assert (table.loc[rfm["frequency"] > 0, "frequency_score"] > 1).all()
    # Recent = short time since the last purchase.
    since_last = rfm["T"] - rfm["recency"]
    most_recent = since_last.idxmin()
    assert table.loc[most_recent, "recency_score"] == 5
    assert table.loc[since_last.idxmax(), "recency_score"] == 1
    combined = table["recency_score"].astype(str) + table["frequency_score"].astype(str) + table["monetary_score"].astype(str)
    assert (table["rfm_score"] == combined).all()
    assert table.attrs["monetary_basis"] == "monetary_value"

    by_spend = customer_segments(bg, rfm, spend_model=gg)
    np.testing.assert_array_equal(by_spend["monetary_score"], quintile_scores(gg.expected_spend(rfm)))
    assert by_spend.attrs["monetary_basis"] == "expected_spend"
    # Customers without repeat purchases get the population mean spend, not the bottom score.
    assert (by_spend.loc[rfm["frequency"] == 0, "monetary_score"] > 1).all()


def test_without_monetary_information(bg, rfm):
    table = customer_segments(bg, rfm[["frequency", "recency", "T"]])
    assert table["monetary_score"].isna().all()
    assert table["rfm_score"].str.len().eq(2).all()
    assert table.attrs["monetary_basis"] is None


def test_new_customer_threshold(bg, rfm):
    T = rfm["T"]
    table = customer_segments(bg, rfm, new_customer_T=30)
    assert ((table["segment"] == "new") == (T < 30)).all()
    assert (customer_segments(bg, rfm, new_customer_T=0)["segment"] != "new").all()
    # The default is capped at 90 days: a long window does not make customers of months "new".
    old = rfm.copy()
    old["T"] = old["T"] + 200.0
    old.attrs = dict(rfm.attrs)
    assert customer_segments(bg, old).attrs["new_customer_T"] == pytest.approx(90 / 7)
    # Without a known time unit the default is a quarter of the window.
    unknown = FixedAlive(np.ones(len(old)))
    unknown.time_unit_ = None
    plain = old.copy()
    plain.attrs = {}
    assert customer_segments(unknown, plain).attrs["new_customer_T"] == pytest.approx(old["T"].max() / 4)


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 100.0)), min_size=1, max_size=60
    ),
    thresholds=st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0)).map(sorted),
    new_T=st.one_of(st.none(), st.floats(0.0, 120.0)),
)
def test_segment_rule_property(data, thresholds, new_T):
    alive = np.array([d[0] for d in data])
    T = np.array([d[1] for d in data])
    frame = pd.DataFrame({"frequency": np.zeros(len(T)), "recency": np.zeros(len(T)), "T": T})
    frame.attrs["time_unit"] = "W"
    inactive, at_risk = thresholds
    table = customer_segments(FixedAlive(alive), frame, at_risk_below=at_risk, inactive_below=inactive,
                              new_customer_T=new_T)
    used_T = table.attrs["new_customer_T"]
    if new_T is None:
        assert used_T == pytest.approx(min(T.max() / 4, 90 / 7))
    assert table["segment"].astype(str).tolist() == _rule(alive, T, used_T, inactive, at_risk)
    # Raising the inactive threshold (up to at_risk) can only add inactive customers.
    more = customer_segments(FixedAlive(alive), frame, at_risk_below=at_risk, inactive_below=at_risk,
                             new_customer_T=used_T)
    assert ((table["segment"] == "inactive") <= (more["segment"] == "inactive")).all()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=80), st.randoms(use_true_random=False))
def test_quintile_scores_properties(values, random):
    values = np.array(values)
    scores = quintile_scores(values)
    assert scores.dtype == np.int64
    assert ((scores >= 1) & (scores <= 5)).all()
    assert scores[np.argmin(values)] == 1
    # Monotone: a larger value never gets a lower score; equal values share a score.
    order = np.argsort(values, kind="stable")
    assert (np.diff(scores[order]) >= 0).all()
    for value in np.unique(values):
        assert len(set(scores[values == value])) == 1
    # Independent of row order.
    permutation = np.array(random.sample(range(len(values)), len(values)))
    np.testing.assert_array_equal(quintile_scores(values[permutation]), scores[permutation])


@given(st.integers(5, 500))
def test_quintile_scores_are_balanced_without_ties(n):
    counts = np.bincount(quintile_scores(np.arange(n, dtype=float)), minlength=6)[1:]
    assert set(counts) <= {n // 5, -(-n // 5)}
    assert counts.sum() == n


def test_bad_inputs(bg, rfm):
    with pytest.raises(ValueError, match="at_risk_below must be a probability"):
        customer_segments(bg, rfm, at_risk_below=1.5)
    with pytest.raises(ValueError, match="inactive_below"):
        customer_segments(bg, rfm, inactive_below=-0.1)
    with pytest.raises(ValueError, match=r"inactive_below \(0.6\) must not be greater than at_risk_below \(0.5\)"):
        customer_segments(bg, rfm, inactive_below=0.6)
    with pytest.raises(ValueError, match="new_customer_T"):
        customer_segments(bg, rfm, new_customer_T=-1)
    with pytest.raises(ValueError, match="'T': is missing"):
        customer_segments(bg, rfm.drop(columns="T"))
    bad = rfm.copy()
    bad.iloc[:3, bad.columns.get_loc("monetary_value")] = -5.0
    with pytest.raises(ValueError, match="'monetary_value': 3 rows are negative"):
        customer_segments(bg, bad)
    with pytest.raises(NotFittedError):
        customer_segments(clv.BetaGeoModel(), rfm)


def test_exported_at_top_level():
    assert clv.customer_segments is customer_segments
    assert "customer_segments" in clv.__all__
