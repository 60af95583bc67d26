"""The fast paths behind the intervals lock onto the closed forms they replace:
survival_if_alive (a recurrence in k for BG/NBD and MBG/NBD, PMF blocks per state for
Pareto/NBD) against the conditional PMF, the quantiles by state against the scan of
the PMF per customer, and both independent of the chunk size."""

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv
from clvmodels import _intervals

FAST = {
    "bgnbd": (clv.BetaGeoModel, {"r": 0.24, "alpha": 4.4, "a": 0.79, "b": 2.4}),
    "mbgnbd": (clv.ModifiedBetaGeoModel, {"r": 0.5, "alpha": 6.0, "a": 0.9, "b": 1.6}),
    "pnbd": (clv.ParetoNBDModel, {"r": 0.55, "alpha": 10.0, "s": 0.6, "beta": 12.0}),
}

# Hard histories: no repeat purchase, heavy buyers (some long silent), a customer seen
# for a moment, very old customers. (x, t_x, T) in weeks.
HARD = pd.DataFrame(
    [(0, 0, 0.5), (0, 0, 78), (1, 0.1, 0.2), (2, 30.4, 38.9), (7, 12, 39), (30, 38, 39), (60, 5, 70),
     (150, 51.9, 52), (400, 20, 60), (25, 1e-3, 1e-3), (3, 200, 400)],
    columns=["frequency", "recency", "T"], dtype=float,
)
HARD.attrs["time_unit"] = "W"


def model_at(key, errors=None):
    cls, params = FAST[key]
    model = cls.from_dict({"params": dict(params), "time_unit": "W"})
    if errors is not None:
        model._cov_log = np.diag(np.full(len(params), errors**2))  # for parameter draws
    return model


def pmf_from_survival(model, data, t, n_counts):
    """P(X = k | history) = (1 - P(alive)) [k = 0] + P(alive) (S(k - 1) - S(k)) from the
    model's survival table, for k < n_counts."""
    columns = model.history(data)
    states = [data[c].to_numpy(dtype=float) for c in model.alive_state_columns]
    table, offsets = model.formulas.survival_if_alive(dict(model.params_), t, 1e-13, *states)
    alive = model.formulas.probability_alive(dict(model.params_), *columns)
    pmf = np.zeros((len(data), n_counts))
    for row in range(len(data)):
        survival = table[0, offsets[row]:offsets[row + 1]][:n_counts]
        given_alive = -np.diff(np.concatenate(([1.0], survival)))
        pmf[row, : len(given_alive)] = alive[row] * given_alive
        pmf[row, 0] += 1.0 - alive[row]
    return pmf


@pytest.mark.parametrize("key", ["bgnbd", "mbgnbd"])
@pytest.mark.parametrize("t", [0.0, 0.3, 39.0, 300.0])
def test_survival_recurrence_gives_the_closed_form_pmf(key, t):
    model = model_at(key)
    counts = np.arange(400)
    expected = model.conditional_probability_of_purchases(HARD, counts, t=t).to_numpy()
    np.testing.assert_allclose(pmf_from_survival(model, HARD, t, len(counts)), expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("t", [0.0, 2.0, 39.0])
def test_pareto_survival_blocks_give_the_closed_form_pmf(t):
    model = model_at("pnbd")
    data = HARD[HARD["frequency"] <= 60]  # the closed form's cost grows like n^2
    counts = np.arange(150)
    expected = model.conditional_probability_of_purchases(data, counts, t=t).to_numpy()
    np.testing.assert_allclose(pmf_from_survival(model, data, t, len(counts)), expected, rtol=0, atol=1e-10)


def test_recurrence_survives_a_heavy_buyer_whose_first_term_underflows():
    """(1 - q)^(r + x) underflows for x = 10,000: the recurrence's moving scale must
    still find the mass far out."""
    model = model_at("bgnbd")
    data = pd.DataFrame({"frequency": [10_000.0], "recency": [100.0], "T": [100.0]})  # surely alive
    table, offsets = model.formulas.survival_if_alive(dict(model.params_), 39.0, 0.05, 10_000.0, 100.0)
    survival = table[0]
    assert survival[0] == pytest.approx(1.0) and survival[-1] <= 0.05
    quantiles = model.purchase_quantiles(data, 39.0, [0.05, 0.5, 0.95]).to_numpy()[0]
    cdf = np.cumsum(model.conditional_probability_of_purchases(data, np.arange(6000), t=39.0).to_numpy()[0])
    np.testing.assert_array_equal(quantiles, [np.argmax(cdf >= p - 1e-12) for p in (0.05, 0.5, 0.95)])
    assert 2000 < quantiles[1] < 4000  # about (r + x) t / (alpha + T), thinned by dropout


def busy_histories(key, n, seed):
    """Customers drawn from the model over 1 to 80 weeks, on a day grid (so distinct
    histories repeat), plus the hard ones."""
    model = model_at(key)
    rng = np.random.default_rng(seed)
    data = model.sample(rng.integers(1, 561, n) / 7.0, rng)
    data["recency"] = np.minimum(np.round(data["recency"] * 7) / 7, data["T"])
    data = pd.concat([data, HARD[HARD["frequency"] <= 150]], ignore_index=True)
    data.attrs["time_unit"] = "W"
    return data


@pytest.mark.parametrize("key", list(FAST))
@pytest.mark.parametrize("n_draws", [0, 6])
def test_quantiles_by_state_equal_the_scan_of_the_pmf(key, n_draws):
    model = model_at(key, errors=0.1)
    data = busy_histories(key, 1500 if key == "pnbd" else 3000, seed=4)
    probabilities = [0.05, 0.1, 0.5, 0.9, 0.95]
    fast = model.purchase_quantiles(data, 26.0, probabilities, n_draws=n_draws, random_state=5)
    model.alive_state_columns = None  # the generic path: the PMF per distinct history
    slow = model.purchase_quantiles(data, 26.0, probabilities, n_draws=n_draws, random_state=5)
    pd.testing.assert_frame_equal(fast, slow)


@pytest.mark.parametrize("key", list(FAST))
def test_quantiles_do_not_depend_on_the_chunk_size(key):
    model = model_at(key, errors=0.1)
    data = busy_histories(key, 1200, seed=9)
    whole = model.purchases_interval(data, t=39.0, level=0.8, n_draws=4, random_state=1)
    for chunk_size in ((60, 333) if key == "pnbd" else (1, 7, 333)):  # 1: a history at a time
        pieces = model.purchases_interval(data, t=39.0, level=0.8, n_draws=4, random_state=1, chunk_size=chunk_size)
        pd.testing.assert_frame_equal(whole, pieces)


@pytest.mark.parametrize("key", list(FAST))
def test_no_time_means_no_purchases(key):
    interval = model_at(key, errors=0.1).purchases_interval(HARD, t=0.0, n_draws=3)
    assert (interval.to_numpy() == 0).all()


def test_mixture_quantiles_average_the_draws():
    """Two draws, one group: P(X > k) is the average of alive x S over the draws."""
    table = np.array([[0.9, 0.5, 0.2, 0.01], [0.6, 0.3, 0.1, 0.0]])
    alive = np.array([[1.0, 0.5], [1.0, 0.2]])
    quantiles = _intervals.mixture_quantiles(alive, np.array([0, 0]), table, np.array([0, 4]), [0.3, 0.8, 0.95])
    # P(X > k) for k = 0..3: customer 0 0.75, 0.4, 0.15, 0.005; customer 1 0.285, 0.155, 0.06, 0.0025.
    np.testing.assert_array_equal(quantiles, [[1, 2, 3], [0, 1, 3]])


@pytest.mark.parametrize("key", list(FAST))
def test_buyers_draw_is_the_dense_draw(key):
    """sample_future_buyers and sample_future_purchases give the same purchases from
    the same stream (the value simulation uses the first, the public method the second)."""
    model = model_at(key)
    data = busy_histories(key, 500, seed=3)
    columns = model.history(data)
    ends = [4.0, 10.0, 52.0]
    buyers, counts = model.formulas.sample_future_buyers(dict(model.params_), ends, *columns, 17)
    dense = model.formulas.sample_future_purchases(dict(model.params_), ends, *columns, 17)
    assert (counts.sum(axis=1) > 0).all()
    np.testing.assert_array_equal(dense[buyers], counts)
    assert dense.sum() == counts.sum()


@pytest.mark.parametrize("key", ["mbgnbd", "pnbd"])
def test_value_interval_of_other_models_does_not_depend_on_the_chunk_size(key, rfm, gg):
    model = model_at(key, errors=0.05)
    data = rfm.iloc[:900]
    settings = dict(horizon=6, period="M", discount_rate=0.01, interval=0.9, n_draws=20, random_state=2)
    whole = clv.customer_lifetime_value(model, gg, data, **settings)
    pieces = clv.customer_lifetime_value(model, gg, data, chunk_size=10, **settings)
    pd.testing.assert_frame_equal(whole, pieces)
    assert (whole["lower"] <= whole["upper"]).all()
    assert whole.attrs["total"]["lower"] < whole["clv"].sum() < whole.attrs["total"]["upper"]
