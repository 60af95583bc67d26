"""business.contractual_what_if: the retention elasticity of Fader & Hardie (2010) for
contractual models, checked against sums over the survival curve, the sBG's
hypergeometric closed form, a Monte Carlo over individual churn probabilities, the
c = 1 reduction of the BdW, the homogeneous textbook formulas, and bad input."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

import clvmodels as clv
from clvmodels.business import contractual_what_if

# Fader & Hardie (2007), "How to project customer retention", JIM 21(1) (REFERENCE.md).
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491]
SBG = {"alpha": 0.704, "beta": 1.182}
BDW = {"alpha": 0.46, "beta": 0.78, "c": 1.28}
N_TERMS = 3000  # (1 / 1.1)^3000 ~ 1e-124: the survival sums below are exact to rounding


def loaded(model_class, params):
    return model_class.from_dict({"params": params, "time_unit": None})


def base_of(counts):
    """Today's active customers: survivors[t] customers of tenure t, t = 1..7."""
    return pd.DataFrame({"tenure": np.arange(1.0, len(counts)), "churned": False, "weight": counts[1:]})


def lifted_derl_from_survival(model, tenure, d, factor):
    """sum_k f^(k+1) S(t + 1 + k) / S(t) (1 + d)^-k, summed term by term."""
    k = np.arange(N_TERMS, dtype=float)
    conditional = model.survival(tenure + 1 + k) / model.survival(tenure)
    return float(np.sum(factor ** (k + 1) * conditional / (1 + d) ** k))


def point_elasticity_from_survival(model, tenure, d):
    """d ln DERL_f / d ln f at f = 1: sum (k + 1) z^k a_k / sum z^k a_k, a_k = S(t+1+k) / S(t)."""
    k = np.arange(N_TERMS, dtype=float)
    terms = model.survival(tenure + 1 + k) / model.survival(tenure) / (1 + d) ** k
    return float(np.sum((k + 1) * terms) / np.sum(terms))


@pytest.mark.parametrize("model_class, params", [(clv.ShiftedBetaGeoModel, SBG), (clv.BetaDiscreteWeibullModel, BDW)])
@pytest.mark.parametrize("increase", [1.0, 4.0, -3.0])
def test_cohort_values_equal_sums_over_the_survival_curve(model_class, params, increase):
    model, d, margin = loaded(model_class, params), 0.1, 25.0
    table = contractual_what_if(model, base_of(REGULAR), margin=margin, discount_rate=d,
                                retention_increase=increase, sample_weight="weight")
    factor = 1 + increase / 100
    for tenure, count in zip(range(1, 8), REGULAR[1:]):
        row = table.loc[float(tenure)]
        assert row["customers"] == count
        assert row["value"] == pytest.approx(margin * count * lifted_derl_from_survival(model, tenure, d, 1.0), rel=1e-9)
        assert row["value_after"] == pytest.approx(
            margin * count * lifted_derl_from_survival(model, tenure, d, factor), rel=1e-9)
        one_percent = lifted_derl_from_survival(model, tenure, d, 1.01) / lifted_derl_from_survival(model, tenure, d, 1)
        assert row["elasticity_1pct"] == pytest.approx((one_percent - 1) / 0.01, rel=1e-8)
        assert row["elasticity"] == pytest.approx(point_elasticity_from_survival(model, tenure, d), rel=1e-6)
        assert row["retention"] == pytest.approx(model.retention(tenure + 1), rel=1e-12)
    total = table.loc["all"]
    assert total["value"] == pytest.approx(table["value"].iloc[:-1].sum(), rel=1e-12)
    assert total["change"] == pytest.approx(total["value_after"] - total["value"], rel=1e-12)
    assert total["change_percent"] == pytest.approx(100 * total["change"] / total["value"], rel=1e-12)


def test_sbg_point_elasticity_equals_its_hypergeometric_closed_form():
    # DERL(t) = b / c 2F1(1, b + 1; c + 1; z) with b = beta + t, c = alpha + beta + t (FH 2010
    # eq. 6), so d ln [f DERL(z f)] / d ln f at f = 1 is
    # 1 + z (b + 1) / (c + 1) 2F1(2, b + 2; c + 2; z) / 2F1(1, b + 1; c + 1; z).
    model, d = loaded(clv.ShiftedBetaGeoModel, SBG), 0.1
    z = 1 / (1 + d)
    table = contractual_what_if(model, base_of(REGULAR), margin=1.0, discount_rate=d, sample_weight="weight")
    for tenure in range(1, 8):
        b, c = SBG["beta"] + tenure, SBG["alpha"] + SBG["beta"] + tenure
        closed = 1 + z * (b + 1) / (c + 1) * special.hyp2f1(2, b + 2, c + 2, z) / special.hyp2f1(1, b + 1, c + 1, z)
        assert table.loc[float(tenure), "elasticity"] == pytest.approx(closed, rel=1e-6)


def test_lift_of_each_customers_own_retention_matches_a_monte_carlo_over_theta():
    # An sBG customer still active after t renewals has theta ~ Beta(alpha, beta + t). Lifting
    # her renewal probability p = 1 - theta to f p gives her sum_k (f p)^(k+1) z^k = f p / (1 - z f p).
    d, f, tenure = 0.1, 1.03, 4
    model = loaded(clv.ShiftedBetaGeoModel, SBG)
    theta = np.random.default_rng(7).beta(SBG["alpha"], SBG["beta"] + tenure, size=400_000)
    p, z = 1 - theta, 1 / (1 + d)
    expected = np.mean(f * p / (1 - z * f * p))
    customers = pd.DataFrame({"tenure": [float(tenure)], "churned": [0]})
    table = contractual_what_if(model, customers, margin=1.0, discount_rate=d, retention_increase=3.0)
    assert table.loc[float(tenure), "value_after"] == pytest.approx(expected, rel=0.01)


def test_bdw_at_c_equal_1_is_the_sbg():
    sbg = loaded(clv.ShiftedBetaGeoModel, SBG)
    bdw = loaded(clv.BetaDiscreteWeibullModel, {**SBG, "c": 1.0})
    common = dict(margin=10.0, discount_rate=0.08, retention_points=3.0, sample_weight="weight", new_customers=500)
    left = contractual_what_if(sbg, base_of(HIGH_END), **common)
    right = contractual_what_if(bdw, base_of(HIGH_END), **common)
    pd.testing.assert_frame_equal(left, right, rtol=1e-9)


def test_homogeneous_limit_is_the_textbook_formula():
    # theta ~ Beta(2e5, 8e5) is theta = 0.2 for everyone: r = 0.8. Value per customer at the next
    # renewal date r (1 + d) / (1 + d - r) (= (1 + d) x the textbook r / (1 + d - r)), elasticity
    # (1 + d) / (1 + d - r) (Pfeifer & Farris 2004; Fader & Hardie 2010).
    r, d, f = 0.8, 0.1, 1.05
    model = loaded(clv.ShiftedBetaGeoModel, {"alpha": 2e5, "beta": 8e5})
    customers = pd.DataFrame({"tenure": [0.0, 3.0, 9.0], "churned": [0, 0, 0]})
    table = contractual_what_if(model, customers, margin=1.0, discount_rate=d, retention_increase=5.0)
    for tenure in (0.0, 3.0, 9.0):
        row = table.loc[tenure]
        assert row["value"] == pytest.approx(r * (1 + d) / (1 + d - r), rel=1e-4)
        assert row["value_after"] == pytest.approx(f * r * (1 + d) / (1 + d - f * r), rel=1e-4)
        assert row["elasticity"] == pytest.approx((1 + d) / (1 + d - r), rel=1e-4)
        assert row["elasticity_1pct"] == pytest.approx(table.attrs["aggregate_elasticity_1pct"], rel=1e-4)
    assert table.attrs["aggregate_elasticity"] == pytest.approx((1 + d) / (1 + d - r), rel=1e-4)


@pytest.mark.parametrize("counts", [REGULAR, HIGH_END])
def test_heterogeneity_raises_the_elasticity_above_the_aggregate_shortcut(counts):
    model = clv.ShiftedBetaGeoModel().fit(clv.tenure_from_survivors(counts), sample_weight="weight")
    table = contractual_what_if(model, base_of(counts), margin=1.0, discount_rate=0.1, sample_weight="weight")
    assert table.loc["all", "elasticity"] > table.attrs["aggregate_elasticity"]
    assert table.loc["all", "elasticity_1pct"] > table.attrs["aggregate_elasticity_1pct"]
    # Longer-tenured cohorts keep their (lower) churn: they gain more from the same lift.
    assert np.all(np.diff(table["elasticity"].iloc[:-1].to_numpy()) > 0)


def test_retention_points_raise_the_base_retention_by_exactly_k_points():
    model = loaded(clv.BetaDiscreteWeibullModel, BDW)
    customers = base_of(REGULAR)
    table = contractual_what_if(model, customers, margin=1.0, discount_rate=0.1, retention_points=5,
                                sample_weight="weight")
    weights = np.asarray(REGULAR[1:], dtype=float)
    base = np.dot(weights, model.retention(np.arange(2.0, 9.0))) / weights.sum()
    assert table.attrs["retention_before"] == pytest.approx(base, rel=1e-12)
    assert table.attrs["retention_after"] - table.attrs["retention_before"] == pytest.approx(0.05, abs=1e-12)
    assert table.attrs["factor"] == pytest.approx((base + 0.05) / base, rel=1e-12)
    assert table.attrs["equivalent_discount_rate"] == pytest.approx(1.1 / table.attrs["factor"] - 1, rel=1e-12)
    assert (table["change"] > 0).all()


def test_new_customers_are_worth_the_lifted_del():
    model, d, f = loaded(clv.ShiftedBetaGeoModel, SBG), 0.1, 1.02
    table = contractual_what_if(model, base_of(REGULAR), margin=2.0, discount_rate=d, retention_increase=2.0,
                                sample_weight="weight", new_customers=1000)
    k = np.arange(N_TERMS, dtype=float)
    lifted_del = 1 + np.sum(f ** (k + 1) * model.survival(k + 1) / (1 + d) ** (k + 1))
    assert table.loc["new", "value"] == pytest.approx(2.0 * 1000 * model.discounted_expected_lifetime(d), rel=1e-9)
    assert table.loc["new", "value_after"] == pytest.approx(2.0 * 1000 * lifted_del, rel=1e-9)
    assert table.loc["all", "customers"] == sum(REGULAR[1:]) + 1000
    assert table.loc["new", "retention"] == pytest.approx(model.retention(1), rel=1e-12)
    assert np.isfinite(table.to_numpy(dtype=float)).all()


def test_a_base_of_new_customers_only_moves_their_first_renewal_by_k_points():
    model = loaded(clv.BetaDiscreteWeibullModel, BDW)
    customers = pd.DataFrame({"tenure": [3.0], "churned": [1]})
    table = contractual_what_if(model, customers, margin=1.0, discount_rate=0.1, retention_points=2,
                                new_customers=100)
    assert list(table.index) == ["new", "all"]
    assert table.attrs["retention_before"] == pytest.approx(model.retention(1), rel=1e-12)
    assert table.attrs["retention_after"] == pytest.approx(model.retention(1) + 0.02, rel=1e-12)
    assert table.loc["all", "value"] == pytest.approx(100 * model.discounted_expected_lifetime(0.1), rel=1e-12)


def test_churned_customers_and_weights_are_counted_as_in_the_table():
    model = loaded(clv.ShiftedBetaGeoModel, SBG)
    table = clv.tenure_from_survivors(REGULAR)
    by_weight = contractual_what_if(model, table, margin=1.0, discount_rate=0.1, sample_weight="weight")
    assert list(by_weight.index) == [7.0, "all"]
    rows = table.loc[table.index.repeat(table["weight"].astype(int))].drop(columns="weight").reset_index(drop=True)
    one_per_row = contractual_what_if(model, rows, margin=1.0, discount_rate=0.1)
    pd.testing.assert_frame_equal(by_weight, one_per_row, rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(alpha=st.floats(0.2, 5), beta=st.floats(0.2, 10), tenure=st.integers(0, 30), d=st.floats(0.03, 0.3),
       increase=st.floats(-20, 2.5))
def test_value_rises_with_retention_and_never_is_nan(alpha, beta, tenure, d, increase):
    model = loaded(clv.ShiftedBetaGeoModel, {"alpha": alpha, "beta": beta})
    customers = pd.DataFrame({"tenure": [float(tenure)], "churned": [0]})
    table = contractual_what_if(model, customers, margin=1.0, discount_rate=d, retention_increase=increase)
    assert np.isfinite(table.to_numpy(dtype=float)).all()
    row = table.loc[float(tenure)]
    assert (row["value_after"] - row["value"]) * increase >= 0
    # A lift compounds over the whole future: the elasticity is at least the homogeneous
    # figure at the cohort's own next retention rate, and at least 1.
    homogeneous = (1 + d) / (1 + d - row["retention"])
    assert row["elasticity"] >= homogeneous * (1 - 1e-6) and row["elasticity"] >= 1


@pytest.mark.parametrize("kwargs, message", [
    (dict(retention_increase=1, retention_points=1), "at most one"),
    (dict(retention_increase=-100), "above -100"),
    (dict(retention_increase=12), "too large"),
    (dict(retention_points=30), "between 0 and 1"),
    (dict(margin=-1.0), "margin"),
    (dict(discount_rate=0.0), "discount_rate"),
    (dict(new_customers=-5), "new_customers"),
])
def test_bad_arguments_are_refused(kwargs, message):
    model = loaded(clv.ShiftedBetaGeoModel, SBG)
    arguments = {**dict(margin=1.0, discount_rate=0.1, sample_weight="weight"), **kwargs}
    with pytest.raises(ValueError, match=message):
        contractual_what_if(model, base_of(REGULAR), **arguments)


@pytest.mark.parametrize("column, values, message", [
    ("tenure", [1.5, 2, 3, 4, 5, 6, 7], "'tenure': 1 row is not whole"),
    ("tenure", [-1, 2, 3, 4, 5, 6, 7], "'tenure': 1 row is not whole"),
    ("churned", [0, 2, 0, 0, 0, 0, 0], "'churned': 1 row is not 0/1"),
    ("weight", [1, -2, 3, np.nan, 5, 6, 7], "'weight': 2 rows are not finite"),
])
def test_bad_customer_tables_name_the_column_and_rows(column, values, message):
    model = loaded(clv.ShiftedBetaGeoModel, SBG)
    customers = base_of(REGULAR).assign(**{column: values})
    with pytest.raises(ValueError, match=message):
        contractual_what_if(model, customers, margin=1.0, discount_rate=0.1, sample_weight="weight")


def test_missing_columns_empty_tables_and_no_active_customers_are_refused():
    model = loaded(clv.ShiftedBetaGeoModel, SBG)
    with pytest.raises(ValueError, match="'churned'.* is missing"):
        contractual_what_if(model, base_of(REGULAR).drop(columns="churned"), margin=1.0, discount_rate=0.1)
    with pytest.raises(ValueError, match="'weight'.* is missing"):
        contractual_what_if(model, base_of(REGULAR).drop(columns="weight"), margin=1.0, discount_rate=0.1,
                            sample_weight="weight")
    with pytest.raises(ValueError, match="one number per row"):
        contractual_what_if(model, base_of(REGULAR), margin=1.0, discount_rate=0.1, sample_weight=[1, 2])
    with pytest.raises(ValueError, match="empty"):
        contractual_what_if(model, base_of(REGULAR).iloc[:0], margin=1.0, discount_rate=0.1)
    with pytest.raises(ValueError, match="no active customers"):
        contractual_what_if(model, base_of(REGULAR).assign(churned=True), margin=1.0, discount_rate=0.1)


def test_monthly_discount_rates_give_a_finite_elasticity_and_an_infinite_one_percent_lift():
    # At d = 1% per period a 1% lift leaves nothing to discount the most loyal customers' future.
    model, d = loaded(clv.BetaDiscreteWeibullModel, BDW), 0.01
    table = contractual_what_if(model, base_of(REGULAR), margin=1.0, discount_rate=d, retention_increase=0.5,
                                sample_weight="weight")
    for tenure in (1, 4, 7):
        assert table.loc[float(tenure), "elasticity"] == pytest.approx(
            point_elasticity_from_survival(model, tenure, d), rel=1e-5)
    assert np.isinf(table["elasticity_1pct"]).all()
    assert np.isfinite(table[["value", "value_after", "change", "elasticity"]].to_numpy(dtype=float)).all()
    with pytest.raises(ValueError, match="discount_rate must be above 0.000101"):
        contractual_what_if(model, base_of(REGULAR), margin=1.0, discount_rate=1e-4, retention_increase=0,
                            sample_weight="weight")
