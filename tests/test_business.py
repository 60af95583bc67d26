"""clvmodels.business: customer value, cohort KPIs, LTV:CAC, the simple formula, the what-if.

The observed figures are checked against direct pandas computations on the log,
written here independently of the module (groupby on calendar periods, no shared
helper); the model figures against the models' own predictions summed by hand.
Data: the CDNOW sample of FHL 2005 (2,357 customers, first purchases in Q1 1997),
observed to 1998-05-15 so that the last month is a partial one.
"""

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv
from clvmodels import business

END = "1998-05-15"
MARGIN = 0.3


@pytest.fixture(scope="module")
def tx(cdnow_sample):
    return cdnow_sample


@pytest.fixture(scope="module")
def rfm_all(tx):
    return clv.rfm_summary(tx, amount_col="amount", time_unit="W", observation_end=END)


@pytest.fixture(scope="module")
def models(rfm_all):
    return clv.BetaGeoModel().fit(rfm_all), clv.GammaGammaModel().fit(rfm_all)


@pytest.fixture(scope="module")
def channels(rfm_all):
    names = np.array(["search", "social", "email"])
    return pd.Series(names[rfm_all.index.to_numpy() % 3], index=rfm_all.index)


@pytest.fixture(scope="module")
def values(models, tx, channels):
    return business.customer_value(*models, tx, observation_end=END, margin=MARGIN, currency="EUR",
                                   channels=channels)


@pytest.fixture(scope="module")
def kpis(models, tx):
    return business.cohort_kpis(tx, *models, observation_end=END)


def _daily(tx, end=END):
    """Purchase days per customer (same-day amounts summed), written with plain pandas."""
    log = tx.loc[tx["date"] <= pd.Timestamp(end)]
    daily = log.groupby(["customer_id", "date"], as_index=False)["amount"].sum()
    daily["first"] = daily.groupby("customer_id")["date"].transform("min")
    daily["cohort"] = daily["first"].dt.to_period("M")
    daily["period"] = (daily["date"].dt.to_period("M") - daily["cohort"]).apply(lambda offset: offset.n)
    return daily


# ------------------------------------------------------------------ customer value


def test_customer_value_is_realised_plus_expected(values, models, tx, rfm_all):
    revenue = tx.loc[tx["date"] <= END].groupby("customer_id")["amount"].sum()
    np.testing.assert_allclose(values["realised_margin"], MARGIN * revenue.reindex(values.index), rtol=1e-12)
    clv_ = clv.customer_lifetime_value(*models, rfm_all, horizon=12, period="M", discount_rate=0.01, margin=MARGIN)
    np.testing.assert_allclose(values["expected_value"], clv_, rtol=1e-12)
    np.testing.assert_allclose(values["customer_value"], values["realised_margin"] + values["expected_value"])
    assert values.attrs["currency"] == "EUR" and values.attrs["margin"] == MARGIN
    assert values.attrs["observation_end"] == END and values.attrs["time_unit"] == "W"
    assert set(values["cohort"].astype(str)) == {"1997-01", "1997-02", "1997-03"}
    assert (values["channel"] == ["search", "social", "email"][0]).sum() == (values.index % 3 == 0).sum()
    assert not values.drop(columns=["channel", "segment", "cohort", "first_purchase"]).isna().any().any()


def test_cost_to_serve_lowers_value_by_its_definition(models, tx, rfm_all, values):
    cost = 0.5
    served = business.customer_value(*models, tx, observation_end=END, margin=MARGIN, cost_to_serve=cost)
    step = 365.25 / 12 / 7  # one month in weeks
    np.testing.assert_allclose(served["realised_cost"], cost * rfm_all["recency"] / step)
    bg = models[0]
    alive = bg.probability_alive(rfm_all).to_numpy()
    months = np.arange(0, 13)
    cumulative = np.column_stack([bg.expected_purchases(rfm_all, t=m * step).to_numpy() for m in months])
    increments = np.diff(cumulative, axis=1)
    expected = cost * (alive[:, None] * increments / increments[:, :1] / 1.01 ** months[1:]).sum(axis=1)
    np.testing.assert_allclose(served["expected_cost"], expected, rtol=1e-9)
    assert (served["expected_cost"] <= cost * alive * 12 + 1e-12).all()
    np.testing.assert_allclose(served["customer_value"], values["customer_value"] - served["realised_cost"]
                               - served["expected_cost"])


def test_segment_value_and_concentration(values):
    table = business.segment_value(values)
    assert table.loc["all", "customers"] == len(values)
    assert table.drop(index="all")["customers"].sum() == len(values)
    np.testing.assert_allclose(table.drop(index="all")["expected_value"].sum(), values["expected_value"].sum())
    concentration = business.value_concentration(values["expected_value"])
    ordered = values["expected_value"].sort_values(ascending=False).to_numpy()
    k = int(np.ceil(0.2 * len(ordered)))
    assert concentration.loc["top 20%", "customers"] == k
    np.testing.assert_allclose(concentration.loc["top 20%", "share_of_value"], ordered[:k].sum() / ordered.sum())


def test_channels_must_cover_every_customer(models, tx, channels):
    with pytest.raises(ValueError, match="2 customers have no channel"):
        business.customer_value(*models, tx, observation_end=END, channels=channels.iloc[2:])


def test_customer_channels_takes_the_first_purchase_record():
    tx = pd.DataFrame({"customer_id": [1, 1, 2], "date": pd.to_datetime(["1997-02-01", "1997-01-05", "1997-01-01"]),
                       "source": ["tv", "search", "email"]})
    assert business.customer_channels(tx, "source").to_dict() == {1: "search", 2: "email"}


# ------------------------------------------------------------------ cohort KPIs


def test_observed_cohort_rates_equal_a_direct_pandas_computation(kpis, tx):
    daily = _daily(tx)
    size = daily.groupby("cohort")["customer_id"].nunique()
    active = daily.groupby(["cohort", "period"])["customer_id"].nunique()
    orders = daily.groupby(["cohort", "period"]).size()
    revenue = daily.groupby(["cohort", "period"])["amount"].sum()
    second = daily.sort_values("date").groupby("customer_id").nth(1)
    for (cohort, period), row in kpis.iterrows():
        key = (pd.Period(cohort, "M"), period)
        n = size[key[0]]
        assert row["cohort_size"] == n
        assert row["retention_rate"] == pytest.approx(active.get(key, 0) / n, abs=1e-15)
        repeaters = ((second["cohort"] == key[0]) & (second["period"] <= period)).sum()
        assert row["repeat_purchase_rate"] == pytest.approx(repeaters / n, abs=1e-15)
        assert row["orders"] == orders.get(key, 0)
        assert row["orders_per_customer"] == pytest.approx(orders.get(key, 0) / n)
        assert row["revenue"] == pytest.approx(revenue.get(key, 0.0))
        assert row["repeat_orders"] == orders.get(key, 0) - (n if period == 0 else 0)
    # Every cohort runs to the observation end: 1997-01 has periods 0..16 (May 1998, partial).
    assert kpis.loc["1997-01"].index.max() == 16 and not kpis.loc[("1997-01", 16), "complete"]
    assert kpis.loc[("1997-01", 16), "period_end"] == END
    assert (kpis.xs(0, level="period")["retention_rate"] == 1).all()


def test_quarterly_cohorts(tx):
    table = business.cohort_kpis(tx, cohort="Q", observation_end=END)
    daily = _daily(tx)
    quarter = daily["date"].dt.to_period("Q")
    k = (quarter - daily["first"].dt.to_period("Q")).apply(lambda offset: offset.n)
    active = daily.assign(k=k).groupby("k")["customer_id"].nunique()
    assert list(table.index.get_level_values(0).unique()) == ["1997Q1"]
    np.testing.assert_allclose(table.loc["1997Q1", "active_customers"].to_numpy(), active.to_numpy())
    assert "expected_repeat_orders" not in table.columns


def test_expected_cohort_figures_are_the_models_predictions_summed(kpis, tx, models):
    bg, gg = models
    first = tx.loc[tx["date"] <= END].groupby("customer_id")["date"].min()
    for cohort, period in [("1997-01", 0), ("1997-02", 3), ("1997-03", 9), ("1997-01", 16)]:
        row = kpis.loc[(cohort, period)]
        start, end = pd.Timestamp(row["period_start"]), pd.Timestamp(row["period_end"])
        members = first[first.dt.to_period("M") == pd.Period(cohort, "M")]
        total = 0.0
        for day in members:  # customer by customer, on purpose
            lower = max((start - day).days, 0) / 7
            upper = ((end - day).days + 1) / 7
            at_lower = bg.expected_purchases_new_customer(lower) if lower > 0 else 0.0
            total += float(bg.expected_purchases_new_customer(upper)) - float(at_lower)
        assert row["expected_repeat_orders"] == pytest.approx(total, rel=1e-10)
        assert row["expected_repeat_orders_per_customer"] == pytest.approx(total / len(members), rel=1e-10)
        assert row["expected_repeat_revenue"] == pytest.approx(total * gg.population_mean_spend(), rel=1e-10)


def test_cohort_expectation_tracks_the_observed_total(kpis):
    # In-sample, the model's repeat orders over all cohorts and periods are close to what happened.
    ratio = kpis["expected_repeat_orders"].sum() / kpis["repeat_orders"].sum()
    assert 0.9 < ratio < 1.1


# ------------------------------------------------------------------ LTV:CAC


def _cost_table(values, spend=(30.0, 25.0, 20.0)):
    rows = []
    for channel, per_customer in zip(("search", "social", "email"), spend):
        for month in ("1997-01", "1997-02", "1997-03"):
            n = int(((values["channel"] == channel) & (values["cohort"] == month)).sum())
            rows.append({"channel": channel, "month": month, "spend": per_customer * n, "new_customers": n})
    return pd.DataFrame(rows)


def test_ltv_cac_per_cohort_and_channel(values, tx, models):
    costs = _cost_table(values)
    table = business.ltv_cac(values, tx, costs, *models)
    assert len(table) == 12  # 3 cohorts x (3 channels + all)
    row = table.loc[("1997-02", "social")]
    members = values.loc[(values["cohort"] == "1997-02") & (values["channel"] == "social")]
    assert row["cac"] == pytest.approx(25.0)
    assert row["ltv"] == pytest.approx(members["customer_value"].mean())
    assert row["ltv_cac"] == pytest.approx(members["customer_value"].mean() / 25.0)
    everyone = table.loc[("1997-02", "all")]
    in_cohort = values.loc[values["cohort"] == "1997-02"]
    assert everyone["customers"] == len(in_cohort)
    assert everyone["cac"] == pytest.approx(costs.loc[costs["month"] == "1997-02", "spend"].sum() / len(in_cohort))


def test_payback_is_the_first_period_where_cumulative_margin_exceeds_cac(values, tx, models):
    daily = _daily(tx)
    cohort = daily.loc[daily["cohort"] == pd.Period("1997-01", "M")]
    n = cohort["customer_id"].nunique()
    per_month = (MARGIN * cohort.groupby("period")["amount"].sum() / n).cumsum()
    for cac in (12.0, 14.0, 16.0):  # paid back within the log
        costs = pd.DataFrame({"month": ["1997-01", "1997-02", "1997-03"], "spend": [cac * n, 1.0, 1.0],
                              "new_customers": [n, 10, 10]})
        plain = values.drop(columns="channel")
        payback = business.ltv_cac(plain, tx, costs, *models).loc[("1997-01", "all"), "payback_periods"]
        k = int(np.flatnonzero(per_month.to_numpy() > cac)[0])
        assert payback == k + 1
    # Beyond the log: paid back by expected margin, after the 16.5 months observed; never if CAC is too high.
    realised = per_month.iloc[-1]
    costs = pd.DataFrame({"month": ["1997-01", "1997-02", "1997-03"], "spend": [(realised + 0.5) * n, 1.0, 1.0],
                          "new_customers": [n, 10, 10]})
    table = business.ltv_cac(values.drop(columns="channel"), tx, costs, *models)
    assert 16.5 < table.loc[("1997-01", "all"), "payback_periods"] <= 16.5 + 12
    costs.loc[0, "spend"] = 1000.0 * n
    assert np.isnan(business.ltv_cac(values.drop(columns="channel"), tx, costs, *models)
                    .loc[("1997-01", "all"), "payback_periods"])


def test_per_customer_costs(values, tx, models):
    costs = pd.DataFrame({"customer": values.index.astype(str), "cost": (values.index.to_numpy() % 7).astype(float)})
    table = business.ltv_cac(values, tx, costs, *models)
    members = values.loc[(values["cohort"] == "1997-03") & (values["channel"] == "email")]
    assert table.loc[("1997-03", "email"), "cac"] == pytest.approx((members.index.to_numpy() % 7).mean())
    with pytest.raises(ValueError, match=r"row 3 \(customer '999999'.*unknown"):
        business.ltv_cac(values, tx, pd.concat([costs.iloc[:2], pd.DataFrame({"customer": ["999999"], "cost": [1.0]}),
                                                costs.iloc[2:]]), *models)
    with pytest.raises(ValueError, match="1 customer has no cost"):
        business.ltv_cac(values, tx, costs.iloc[1:], *models)


@pytest.mark.parametrize("change, message", [
    (lambda t: t.assign(channel=t["channel"].replace({"email": "tv"})), r"row 3 \(channel 'tv', month '1997-01'\): channel 'tv' is unknown"),
    (lambda t: t.assign(spend=t["spend"].where(t.index != 4, -100.0)), r"row 5 \(channel 'social', month '1997-02'\): spend is negative"),
    (lambda t: t.drop(index=8), r"missing month: no row for channel 'email', month 1997-03"),
    (lambda t: t.assign(new_customers=t["new_customers"].where(t.index != 1, 0)), r"row 2 \(channel 'social', month '1997-01'\): new_customers is 0"),
    (lambda t: pd.concat([t, t.iloc[[0]]], ignore_index=True), r"row 10 \(channel 'search', month '1997-01'\): repeats row 1"),
    (lambda t: t.assign(month=t["month"].replace({"1997-03": "March"})), r"row 7 .*month 'March' is not a month"),
    (lambda t: pd.concat([t, pd.DataFrame([{"channel": "search", "month": "1997-06", "spend": 5.0, "new_customers": 3}])],
                         ignore_index=True), r"row 10 .*no customer of the log was acquired in 1997-06"),
    (lambda t: t.drop(columns="spend"), r"column 'spend': is missing"),
])
def test_bad_cost_tables_name_the_row(values, tx, models, change, message):
    costs = _cost_table(values).sort_values(["month", "channel"], key=lambda s: s.map(
        {"search": 0, "social": 1, "email": 2}).fillna(s) if s.name == "channel" else s).reset_index(drop=True)
    with pytest.raises(ValueError, match=message):
        business.ltv_cac(values, tx, change(costs), *models)


def test_cost_table_from_csv(values, tx, models, tmp_path):
    path = tmp_path / "costs.csv"
    _cost_table(values).to_csv(path, index=False)
    costs = business.read_acquisition_costs(path)
    table = business.ltv_cac(values, tx, costs, *models)
    assert table.loc[("1997-01", "search"), "cac"] == pytest.approx(30.0)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match="not a readable cost table"):
        business.read_acquisition_costs(tmp_path / "empty.csv")


# ------------------------------------------------------------------ the simple formula


def test_simple_formula_by_hand(values, tx):
    table = business.simple_formula_comparison(values, tx)
    daily = _daily(tx)
    # Retention: of the customers buying in a complete month, the share buying in the next month too.
    months = daily[["customer_id"]].assign(month=daily["date"].dt.to_period("M")).drop_duplicates()
    last_complete = pd.Period("1998-04", "M")
    eligible = months.loc[months["month"] + 1 <= last_complete]
    following = set(zip(months["customer_id"], months["month"]))
    r = np.mean([(c, m + 1) in following for c, m in zip(eligible["customer_id"], eligible["month"])])
    lifetime = (1 - r ** 12) / (1 - r)
    orders, revenue = len(daily), daily["amount"].sum()
    first = daily.groupby("customer_id")["date"].min()
    observed_months = ((pd.Timestamp(END) - first).dt.days + 1).sum() / (365.25 / 12)
    simple = revenue / orders * (orders / observed_months) * lifetime * MARGIN
    row = table.loc["all"]
    assert row["retention_rate"] == pytest.approx(r)
    assert row["expected_lifetime"] == pytest.approx(lifetime)
    assert row["simple_clv"] == pytest.approx(simple)
    assert row["model_clv"] == pytest.approx(values["expected_value"].mean())
    sentence = table.attrs["sentence"]
    worst = table.drop(index="all")["difference"].abs().idxmax()
    assert f"differ most for {worst} customers" in sentence and "EUR" in sentence
    # Monthly, the formula's retention undervalues the active and overvalues the probably gone.
    assert table.loc["active", "model_clv"] > table.loc["active", "simple_clv"]
    assert table.loc["inactive", "model_clv"] < table.loc["inactive", "simple_clv"]
    assert "For inactive customers it is the other way round" in sentence


def test_simple_formula_needs_calendar_periods(models, tx):
    weekly = business.customer_value(*models, tx, observation_end=END, period="W", horizon=10)
    with pytest.raises(ValueError, match="period must be 'M' or 'Q'"):
        business.simple_formula_comparison(weekly, tx)


# ------------------------------------------------------------------ retention and the what-if


def test_retention_rate_definition(models, rfm_all):
    bg = models[0]
    year = 365.25 / 7
    first = bg.expected_purchases(rfm_all, t=year).sum()
    second = bg.expected_purchases(rfm_all, t=2 * year).sum() - first
    assert business.retention_rate(bg, rfm_all) == pytest.approx(second / first)
    monthly = business.retention_rate(bg, rfm_all, period="M")
    assert business.retention_rate(bg, rfm_all) < monthly < 1


def test_retention_what_if_raises_retention_by_the_points(models, rfm_all):
    bg, gg = models
    table = business.retention_what_if(bg, gg, rfm_all, points=5, margin=MARGIN)
    attrs = table.attrs
    assert attrs["retention_after"] == pytest.approx(attrs["retention_before"] + 0.05, abs=1e-8)
    assert 0 < attrs["factor"] < 1
    # The scenario: the fitted model's customers alive today, with the scaled dropout from now on.
    scenario = bg.with_dropout_scaled(attrs["factor"])
    after = clv.customer_lifetime_value(scenario, gg, rfm_all, horizon=12, period="M", discount_rate=0.01,
                                        margin=MARGIN)
    after = after * bg.probability_alive(rfm_all) / scenario.probability_alive(rfm_all)
    assert table.loc["all", "expected_value_after"] == pytest.approx(after.sum(), rel=1e-10)
    assert (table["change"] > 0).all()
    np.testing.assert_allclose(table.drop(index="all")["change"].sum(), table.loc["all", "change"])


def test_retention_what_if_by_dropout_and_its_limits(models, rfm_all):
    bg, gg = models
    same = business.retention_what_if(bg, gg, rfm_all, dropout_reduction=0)
    assert same.loc["all", "change"] == pytest.approx(0.0, abs=1e-9)
    tenth = business.retention_what_if(bg, gg, rfm_all, dropout_reduction=10)
    more = business.retention_what_if(bg, gg, rfm_all, dropout_reduction=30)
    assert 0 < tenth.loc["all", "change"] < more.loc["all", "change"]
    assert tenth.attrs["factor"] == pytest.approx(0.9)
    worse = business.retention_what_if(bg, gg, rfm_all, points=-5)
    assert worse.loc["all", "change"] < 0
    with pytest.raises(ValueError, match="cannot change by 30 points"):
        business.retention_what_if(bg, gg, rfm_all, points=30)
    with pytest.raises(ValueError, match="exactly one"):
        business.retention_what_if(bg, gg, rfm_all, points=5, dropout_reduction=10)


def test_ltv_interval_comes_from_the_simulated_clv_of_the_group(values, tx, models, rfm_all):
    costs = _cost_table(values)
    table = business.ltv_cac(values, tx, costs, *models, interval=0.9, n_draws=40)
    row = table.loc[("1997-03", "email")]
    in_group = ((values["cohort"] == "1997-03") & (values["channel"] == "email")).to_numpy()
    total = clv.customer_lifetime_value(*models, rfm_all.loc[in_group], horizon=12, period="M", discount_rate=0.01,
                                        margin=MARGIN, interval=0.9, n_draws=40).attrs["total"]
    realised = values.loc[in_group, "realised_margin"].sum()
    n = in_group.sum()
    assert row["ltv_lower"] == pytest.approx((realised + total["lower"]) / n)
    assert row["ltv_upper"] == pytest.approx((realised + total["upper"]) / n)
    assert row["ltv_lower"] < row["ltv"] < row["ltv_upper"]
    assert row["ltv_cac_lower"] == pytest.approx(row["ltv_lower"] / row["cac"])


# ------------------------------------------------------------------ every purchase model

# The business functions summarise transaction logs in continuous time (frequency, recency,
# T); discrete-time models (BG/BB: frequency, recency, n_periods) take period tables instead.
PURCHASE_MODELS = sorted(
    name for name, cls in clv.registered_models().items()
    if issubclass(cls, clv.TransactionModel) and tuple(cls.rfm_columns) == ("frequency", "recency", "T")
)


@pytest.mark.parametrize("name", PURCHASE_MODELS)
def test_every_purchase_model_through_the_public_api(name, tx, rfm_all, models):
    model = clv.registered_models()[name]().fit(rfm_all)
    gg = models[1]
    values = business.customer_value(model, gg, tx, observation_end=END, margin=MARGIN)
    assert np.isfinite(values["customer_value"]).all()
    np.testing.assert_allclose(values["customer_value"], values["realised_margin"] + values["expected_value"])
    kpis = business.cohort_kpis(tx, model, observation_end=END)
    first = tx.loc[tx["date"] <= END].groupby("customer_id")["date"].min()
    row = kpis.loc[("1997-02", 2)]
    members = first[first.dt.to_period("M") == pd.Period("1997-02", "M")]
    start, end = pd.Timestamp(row["period_start"]), pd.Timestamp(row["period_end"])
    upper = np.asarray(model.expected_purchases_new_customer(((end - members).dt.days.to_numpy() + 1) / 7))
    lower = np.asarray(model.expected_purchases_new_customer((start - members).dt.days.to_numpy() / 7))
    assert row["expected_repeat_orders"] == pytest.approx((upper - lower).sum(), rel=1e-10)
    what_if = business.retention_what_if(model, gg, rfm_all, points=5, margin=MARGIN)
    assert what_if.attrs["retention_after"] == pytest.approx(what_if.attrs["retention_before"] + 0.05, abs=1e-8)
    assert what_if.loc["all", "change"] > 0
