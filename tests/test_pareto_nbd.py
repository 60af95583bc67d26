"""Pareto/NBD: published values, agreement with mpmath on hard histories, the conditional
PMF, simulation, derivatives and invariants (no lifetimes needed; parity is in
tests/test_pareto_nbd_parity.py)."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clvmodels as clv
from clvmodels import pareto_nbd

mp = pytest.importorskip("mpmath")

# Fader, Hardie & Lee (2005) / REFERENCE.md: the Pareto/NBD fit of the CDNOW sample.
FHL_PARAMS = {"r": 0.5533, "alpha": 10.578, "s": 0.6062, "beta": 11.669}
FHL_LOG_LIKELIHOOD = -9594.98
CDNOW_PARAMS = {"r": 0.553276, "alpha": 10.57761, "s": 0.606214, "beta": 11.66791}
# The same in days, and two sets far from alpha = beta (each hypergeometric branch with
# z up to 0.98).
PARAM_SETS = {
    "cdnow_days": {"r": 0.553276, "alpha": 10.57761 * 7, "s": 0.606214, "beta": 11.66791 * 7},
    "beta_much_larger": {"r": 0.3, "alpha": 5.0, "s": 2.0, "beta": 300.0},
    "alpha_much_larger": {"r": 2.0, "alpha": 400.0, "s": 0.5, "beta": 8.0},
}
MP_DIGITS = 80  # mpmath's hyp2f1 loses ~40 digits at x = 10,000; 80 agree with 110


@pytest.fixture(scope="module")
def pn(rfm):
    return clv.ParetoNBDModel().fit(rfm)


def one(value):
    return float(np.asarray(value).reshape(-1)[0])


# ----- published values ---------------------------------------------------------------------
def test_cdnow_fit_reproduces_fhl_2005(pn):
    for name, value in FHL_PARAMS.items():
        assert pn.params_[name] == pytest.approx(value, rel=1e-3)
    assert pn.log_likelihood_ == pytest.approx(FHL_LOG_LIKELIHOOD, abs=0.01)
    assert pn.optimizer_ == "Newton"
    assert pn.time_unit_ == "W"
    assert np.all(np.isfinite(pn.standard_errors_))


def test_log_likelihood_at_the_fhl_estimates(rfm):
    # At the published estimates the total is within 0.01 of the published -9594.98.
    total = pareto_nbd.log_likelihood(FHL_PARAMS, rfm["frequency"], rfm["recency"], rfm["T"]).sum()
    assert total == pytest.approx(FHL_LOG_LIKELIHOOD, abs=0.01)


def test_registered_and_described(pn):
    assert clv.registered_models("transaction")["pnbd"] is clv.ParetoNBDModel
    assert "ParetoNBDModel" in clv.__all__
    table = pn.describe_params()
    assert list(table.index) == ["r", "alpha", "s", "beta"]
    assert table.loc["beta", "meaning"].endswith("(per W)")


# ----- agreement with mpmath ------------------------------------------------------------------
def mp_reference(params, x, t_x, T, t):
    """ln L, P(alive) and E[X(T, T+t) | history] from FH 2005 eqs. 18, 19 and 22 as
    printed (A_0 with mpmath's hyp2f1 in both branches), at MP_DIGITS digits."""
    with mp.workdps(MP_DIGITS):
        r, a, s, b = (mp.mpf(params[k]) for k in ("r", "alpha", "s", "beta"))
        x, t_x, T, t = mp.mpf(x), mp.mpf(t_x), mp.mpf(T), mp.mpf(t)
        if a >= b:
            def term(u):
                return mp.hyp2f1(r + s + x, s + 1, r + s + x + 1, (a - b) / (a + u)) / (a + u) ** (r + s + x)
        else:
            def term(u):
                return mp.hyp2f1(r + s + x, r + x, r + s + x + 1, (b - a) / (b + u)) / (b + u) ** (r + s + x)
        a0 = term(t_x) - term(T)
        alive = 1 / ((a + T) ** (r + x) * (b + T) ** s)
        total = alive + s / (r + s + x) * a0
        log_l = mp.loggamma(r + x) - mp.loggamma(r) + r * mp.log(a) + s * mp.log(b) + mp.log(total)
        p_alive = alive / total
        expected = p_alive * (r + x) * (b + T) / ((a + T) * (s - 1)) * (1 - ((b + T) / (b + T + t)) ** (s - 1))
        return [float(v) for v in (log_l, p_alive, expected)]


def hard_histories():
    """Frequency up to 10,000, recency 0, T/2, T - 1 day and T, T from 1 to 100,000 days."""
    for x in (0.0, 1.0, 132.0, 10_000.0):
        for T in (1.0, 365.0, 100_000.0):
            for t_x in sorted({0.0, T / 2, T - 1.0, T}) if x > 0 else (0.0,):
                yield x, t_x, T


@pytest.mark.parametrize("name", list(PARAM_SETS))
def test_agrees_with_mpmath_on_hard_histories(name):
    params = PARAM_SETS[name]
    worst = 0.0
    for x, t_x, T in hard_histories():
        ours = [
            one(pareto_nbd.log_likelihood(params, x, t_x, T)),
            one(pareto_nbd.probability_alive(params, x, t_x, T)),
            one(pareto_nbd.expected_purchases(params, 30.0, x, t_x, T)),
        ]
        for value, reference in zip(ours, mp_reference(params, x, t_x, T, 30.0)):
            assert np.isfinite(value)
            if abs(reference) < 1e-290:  # below the smallest double: ours is 0 or as tiny
                assert abs(value) < 1e-280
                continue
            worst = max(worst, abs(value - reference) / abs(reference))
    assert worst < 1e-8, worst


def mp_conditional_pmf(params, n, t, x, t_x, T):
    """P(X(T, T+t) = n | history) by numerical integration over the remaining lifetime
    (a route independent of FH 2006's hypergeometric sums)."""
    _, p_alive, _ = mp_reference(params, x, t_x, T, t)
    with mp.workdps(40):
        r, a, s, b = (mp.mpf(params[k]) for k in ("r", "alpha", "s", "beta"))
        k, A, B = r + x, a + T, b + T

        def negative_binomial(v):
            return mp.exp(
                mp.loggamma(k + n) - mp.loggamma(k) - mp.loggamma(n + 1) + k * mp.log(A / (A + v))
                + (n * mp.log(v / (A + v)) if n else 0)
            )

        survive = negative_binomial(t) * (B / (B + t)) ** s
        die = mp.quad(lambda v: negative_binomial(v) * s * B**s / (B + v) ** (s + 1), [0, t / 4, t / 2, t])
        return float(p_alive * (survive + die) + (1 - p_alive) * (n == 0))


@pytest.mark.parametrize("history", [(0, 0, 39), (2, 30.43, 38.86), (10, 20, 39), (132, 39, 39), (40, 39, 39)])
def test_conditional_pmf_agrees_with_mpmath(history):
    x, t_x, T = history
    for n in (0, 1, 3, 10, 40):
        ours = one(pareto_nbd.conditional_probability_of_purchases(CDNOW_PARAMS, n, 39.0, x, t_x, T))
        reference = mp_conditional_pmf(CDNOW_PARAMS, n, 39.0, x, t_x, T)
        assert ours == pytest.approx(reference, rel=1e-8, abs=1e-15)


# ----- the conditional PMF ---------------------------------------------------------------------
HISTORIES = np.array([(0, 0, 39), (1, 5, 39), (2, 30.43, 38.86), (7, 38, 39), (15, 39, 39), (3, 1, 78)], dtype=float)


@pytest.mark.parametrize("params", [CDNOW_PARAMS, PARAM_SETS["beta_much_larger"], PARAM_SETS["alpha_much_larger"]])
@pytest.mark.parametrize("t, n_max", [(1.0, 60), (39.0, 150), (150.0, 250)])
def test_conditional_pmf_sums_to_one_with_mean_expected_purchases(params, t, n_max):
    # n_max: at least 10 standard deviations above the largest mean.
    x, t_x, T = HISTORIES.T
    counts = np.arange(0, n_max + 1.0)
    pmf = pareto_nbd.conditional_probability_of_purchases(params, counts[:, None], t, x, t_x, T)
    assert np.all((pmf >= 0) & (pmf <= 1))
    np.testing.assert_allclose(pmf.sum(axis=0), 1.0, rtol=0, atol=1e-8)
    expected = pareto_nbd.expected_purchases(params, t, x, t_x, T)
    np.testing.assert_allclose(counts @ pmf, expected, rtol=1e-8)


def test_new_customer_pmf_sums_to_one_with_mean_expected_purchases():
    counts = np.arange(0, 200.0)
    pmf = pareto_nbd.probability_of_purchases(CDNOW_PARAMS, counts, 39.0)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-10)
    assert counts @ pmf == pytest.approx(pareto_nbd.expected_purchases_new_customer(CDNOW_PARAMS, 39.0), rel=1e-8)


def test_model_method_returns_a_table_per_count(pn, rfm):
    table = pn.conditional_probability_of_purchases(rfm.iloc[:50], [0, 1, 2], t=39)
    assert list(table.columns) == [0, 1, 2]
    single = pn.conditional_probability_of_purchases(rfm.iloc[:50], 1, t=39)
    np.testing.assert_allclose(table[1], single, rtol=1e-14)


@pytest.mark.parametrize("history", [(0, 0, 39), (2, 30.43, 38.86), (12, 37, 39)])
def test_conditional_pmf_matches_simulation(history):
    # Draw from the posterior process: alive with P(alive); then lambda ~ Gamma(r+x,
    # alpha+T), mu ~ Gamma(s, beta+T), a fresh exponential lifetime, Poisson purchases.
    x, t_x, T = history
    r, alpha, s, beta = (CDNOW_PARAMS[k] for k in ("r", "alpha", "s", "beta"))
    t, draws = 39.0, 200_000
    rng = np.random.default_rng(11)
    alive = rng.random(draws) < pareto_nbd.probability_alive(CDNOW_PARAMS, x, t_x, T)
    rate = rng.gamma(r + x, 1.0 / (alpha + T), draws)
    lifetime = rng.exponential(1.0, draws) / rng.gamma(s, 1.0 / (beta + T), draws)
    counts = np.where(alive, rng.poisson(rate * np.minimum(lifetime, t)), 0)
    for n in range(6):
        p = one(pareto_nbd.conditional_probability_of_purchases(CDNOW_PARAMS, n, t, x, t_x, T))
        observed = np.mean(counts == n)
        assert abs(observed - p) < 4.5 * np.sqrt(p * (1 - p) / draws) + 1e-4


# ----- the likelihood's derivatives ------------------------------------------------------------
@pytest.mark.parametrize("params", [CDNOW_PARAMS, {"r": 0.5, "alpha": 8.0, "s": 0.9, "beta": 30.0}])
def test_analytic_derivatives_equal_finite_differences(rfm, params):
    columns = {c: rfm[c].to_numpy(float) for c in ("frequency", "recency", "T")}
    prepared = pareto_nbd.prepare(columns, np.ones(len(rfm)))
    point = np.array([params[k] for k in ("r", "alpha", "s", "beta")])
    ll, grad, hess = pareto_nbd.derivatives(point, prepared, 2)
    assert ll == pytest.approx(pareto_nbd.log_likelihood(params, *columns.values()).sum(), rel=1e-13)
    step = 1e-5 * point
    numeric_grad = np.empty(4)
    numeric_hess = np.empty((4, 4))
    for i in range(4):
        shift = np.zeros(4)
        shift[i] = step[i]
        up, down = pareto_nbd.derivatives(point + shift, prepared, 1), pareto_nbd.derivatives(point - shift, prepared, 1)
        numeric_grad[i] = (up[0] - down[0]) / (2 * step[i])
        numeric_hess[i] = (up[1] - down[1]) / (2 * step[i])
    np.testing.assert_allclose(grad, numeric_grad, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(hess, numeric_hess, rtol=1e-5, atol=1e-3)


# ----- simulation and fitting ------------------------------------------------------------------
def test_sample_then_fit_recovers_parameters():
    params = clv.ParetoNBDModel.example_params
    rng = np.random.default_rng(3)
    data = pareto_nbd.sample(params, rng.uniform(20, 80, 6000), rng)
    model = clv.ParetoNBDModel().fit(data)
    z = (model.params_ - pd.Series(params)) / model.standard_errors_
    assert np.all(np.abs(z) < 4), z.to_dict()


def test_sample_is_a_valid_history():
    rng = np.random.default_rng(5)
    T = rng.uniform(0, 50, 5000)
    data = pareto_nbd.sample(CDNOW_PARAMS, T, rng)
    assert np.all(data["recency"] <= data["T"]) and np.all(data["recency"] >= 0)
    assert np.all((data["frequency"] > 0) | (data["recency"] == 0))
    # The mean frequency matches E[X(T)] averaged over the ages.
    expected = pareto_nbd.expected_purchases_new_customer(CDNOW_PARAMS, T).mean()
    assert data["frequency"].mean() == pytest.approx(expected, rel=0.08)


def test_weighted_distinct_rows_give_the_full_fit(rfm, pn):
    counts = rfm.groupby(["frequency", "recency", "T"]).size().rename("n").reset_index()
    weighted = clv.ParetoNBDModel().fit(counts, sample_weight="n")
    np.testing.assert_allclose(weighted.params_, pn.params_, rtol=1e-6)
    assert weighted.log_likelihood_ == pytest.approx(pn.log_likelihood_, rel=1e-10)


def test_days_and_weeks_give_the_same_predictions(rfm, pn):
    days = rfm.copy()
    days[["recency", "T"]] *= 7
    days.attrs["time_unit"] = "D"
    model = clv.ParetoNBDModel().fit(days)
    assert model.params_["alpha"] == pytest.approx(7 * pn.params_["alpha"], rel=1e-5)
    assert model.params_["beta"] == pytest.approx(7 * pn.params_["beta"], rel=1e-5)
    np.testing.assert_allclose(model.expected_purchases(days, 7 * 39), pn.expected_purchases(rfm, 39), rtol=1e-5)


# ----- invariants on extreme histories ---------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(
    x=st.integers(0, 10_000),
    T=st.floats(1e-3, 1e5),
    fraction=st.floats(0, 1),
    t=st.floats(0, 1e4),
    params=st.sampled_from([CDNOW_PARAMS, *PARAM_SETS.values()]),
)
def test_probabilities_and_expectations_are_sane(x, T, fraction, t, params):
    t_x = T * fraction if x > 0 else 0.0
    alive = one(pareto_nbd.probability_alive(params, x, t_x, T))
    expected = one(pareto_nbd.expected_purchases(params, t, x, t_x, T))
    log_l = one(pareto_nbd.log_likelihood(params, x, t_x, T))
    none = one(pareto_nbd.conditional_probability_of_purchases(params, 0, t, x, t_x, T))
    assert 0 <= alive <= 1
    assert np.isfinite(expected) and expected >= 0
    assert np.isfinite(log_l)
    assert 0 <= none <= 1 + 1e-12


def test_recency_equal_to_age_is_finite_and_more_alive_than_earlier():
    x = np.array([1.0, 50.0, 132.0, 10_000.0])
    at_end = pareto_nbd.probability_alive(CDNOW_PARAMS, x, 39.0, 39.0)
    earlier = pareto_nbd.probability_alive(CDNOW_PARAMS, x, 30.0, 39.0)
    assert np.all(np.isfinite(at_end)) and np.all(at_end >= earlier)


# ----- model methods ---------------------------------------------------------------------------
def test_dropout_scaling_divides_beta(pn):
    faster = pn.with_dropout_scaled(2.0)
    assert faster.params_["beta"] == pytest.approx(pn.params_["beta"] / 2)
    assert faster.params_["s"] == pn.params_["s"]
    assert faster.expected_purchases_new_customer(39) < pn.expected_purchases_new_customer(39)


def test_mixing_distributions_are_the_gamma_rates(pn):
    mixing = pn.mixing_distributions()
    assert set(mixing) == {"purchase", "dropout"}
    assert mixing["purchase"].distribution.mean() == pytest.approx(pn.params_["r"] / pn.params_["alpha"])
    assert mixing["dropout"].distribution.mean() == pytest.approx(pn.params_["s"] / pn.params_["beta"])
    assert mixing["dropout"].per_time and mixing["purchase"].per_time


def test_json_round_trip(pn, rfm, tmp_path):
    path = pn.save(tmp_path / "pnbd.json")
    loaded = clv.load_model(path)
    assert isinstance(loaded, clv.ParetoNBDModel)
    np.testing.assert_array_equal(loaded.probability_alive(rfm), pn.probability_alive(rfm))


def test_bad_input_names_the_column(pn):
    bad = pd.DataFrame({"frequency": [1.0, 2.0], "recency": [5.0, 50.0], "T": [10.0, 39.0]})
    with pytest.raises(ValueError, match="recency"):
        pn.expected_purchases(bad, 10)
    with pytest.raises(ValueError, match="frequency"):
        clv.ParetoNBDModel().fit(pd.DataFrame({"frequency": [-1.0], "recency": [0.0], "T": [3.0]}))
