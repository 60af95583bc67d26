"""No NaN, no infinity and no lost digits in the predictions, for any parameters a fit
can reach or a model file may hold (issue 14, item 2), and the fast paths (interpolated
CLV, compression of tables without a time unit) give the direct answers (item 9).

References: mpmath at 30 digits (FHL 2005 eq. 10 via mpmath.hyp2f1, or the same
expectation as a Beta integral by tanh-sinh quadrature), stored in
tests/data/bgnbd_mpmath*.csv by tests/data/make_bgnbd_mpmath.py, plus live mpmath
checks at a few points.
"""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv
from clvmodels import bgnbd, gamma_gamma, mbgnbd
from clvmodels._special import digamma_difference, log_pochhammer

mp = pytest.importorskip("mpmath")
DATA = Path(__file__).parent / "data"
GRID_FILES = sorted(DATA.glob("bgnbd_mpmath*.csv"))


def _reference_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_bgnbd_mpmath", DATA / "make_bgnbd_mpmath.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REFERENCE = _reference_module()


def _mp_expected_while_alive(a, b, r, s, method="quad"):
    """E[(1 - (1 + p s)^-r) / p], p ~ Beta(a, b), with mpmath at 30 digits: FHL 2005
    eq. 10 via mpmath.hyp2f1 (slow for huge shapes) or tanh-sinh quadrature."""
    with mp.workdps(30):
        a, b, r, s = (mp.mpf(v) for v in (a, b, r, s))
        if method == "hyp2f1":
            return float(REFERENCE.expected_while_alive(a, b, r, s))
        return float(REFERENCE.expected_while_alive_by_quadrature(a, b, r, s))


@pytest.fixture(scope="module")
def grid():
    if not GRID_FILES:
        pytest.fail("tests/data/bgnbd_mpmath*.csv missing: run tests/data/make_bgnbd_mpmath.py")
    table = pd.concat([pd.read_csv(path) for path in GRID_FILES], ignore_index=True)
    # At a = 1 eq. 10 is 0/0: the files' hyp2f1 values there (a = 1 + 1e-25 at 30 digits)
    # keep only ~6 digits, so those points are checked against the quadrature below.
    return table[(table["a"] != 1.0) | (table["method"] == "quad")].reset_index(drop=True)


def _predictions(grid):
    out = {name: np.empty(len(grid)) for name in ("p_alive", "expected", "pmf_0", "pmf_1", "pmf_5")}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow, no invalid value on the way
        for key, rows in grid.groupby(["r", "alpha", "a", "b"]).groups.items():
            params = dict(zip(["r", "alpha", "a", "b"], key))
            part = grid.loc[rows]
            x, t_x, T, t = (part[c].to_numpy() for c in ("x", "t_x", "T", "t"))
            positions = grid.index.get_indexer(rows)
            out["p_alive"][positions] = bgnbd.probability_alive(params, x, t_x, T)
            for horizon in np.unique(t):
                sel = t == horizon
                out["expected"][positions[sel]] = bgnbd.expected_purchases(params, horizon, x[sel], t_x[sel], T[sel])
                for n in (0, 1, 5):
                    out[f"pmf_{n}"][positions[sel]] = bgnbd.conditional_probability_of_purchases(
                        params, n, horizon, x[sel], t_x[sel], T[sel])
    return out


def test_a_equal_to_one_matches_the_quadrature_reference():
    for b, r, s in ((1e-8, 1e-8, 1e8), (2.426, 0.243, 9.0), (1e4, 1e4, 1e-3), (1e8, 1.0, 1e3), (0.5, 1e8, 1e-6)):
        value = bgnbd._expected_while_alive(1.0, b, r, s)[0]
        assert value == pytest.approx(_mp_expected_while_alive(1.0, b, r, s), rel=1e-11)


TOLERANCE = {"p_alive": 1e-12, "expected": 1e-5, "pmf_0": 1e-7, "pmf_1": 1e-7, "pmf_5": 1e-7}


def test_bgnbd_predictions_match_mpmath_over_the_whole_parameter_space(grid):
    """r, alpha, a, b from 1e-8 to 1e8; histories from none to 10,000 purchases over
    T = 100,000; horizons 1 and 1,000."""
    got = _predictions(grid)
    for name, values in got.items():
        reference = grid[name].to_numpy()
        assert np.all(np.isfinite(values)), name
        assert np.all(values >= 0), name
        relevant = reference > 1e-280  # below, both are "zero" (checked absolutely)
        relative = np.abs(values - reference)[relevant] / reference[relevant]
        # Worst cases (measured): P(alive) 1e-14; E[X] 5e-6 where a = 1e-4 and r s ~ 1e15
        # (purchase rates 1e15 times the horizon's), 6e-9 elsewhere; the PMF 2e-8.
        assert relative.max() < TOLERANCE[name], (name, relative.max())
        assert np.all(np.abs(values - reference)[~relevant] < 1e-270), name


@pytest.mark.parametrize(
    "a, b, r, s",
    [(300.0, 3000.0, 0.243, 39 / 4.414), (1e10, 2.426, 0.243, 39 / 4.414), (1e-10, 1e10, 0.243, 39 / 4.414),
     (0.793, 2.426, 0.243, 8.8), (1.0, 2.0, 0.5, 3.0), (1e-8, 1e-8, 1e8, 1e-4), (1e8, 1e8, 1e-8, 1e6),
     (0.02, 93.1, 4110.0, 405.0), (5.0, 1e-8, 2.0, 1e3)],
)
def test_expectation_matches_mpmath_at_named_points(a, b, r, s):
    # a = 300, b = 3000 and a = 1e10 were NaN and a = 1e-10, b = 1e10 negative before issue 14;
    # a = 1 is the removable singularity of eq. 10.
    reference = _mp_expected_while_alive(a, b, r, s)
    if max(a, b, r) < 1e4 and min(a, b) > 1e-4 and a != 1.0:  # eq. 10 is 0/0 at a = 1
        assert reference == pytest.approx(_mp_expected_while_alive(a, b, r, s, "hyp2f1"), rel=1e-20)
    value = bgnbd._expected_while_alive(a, b, r, s)[0]
    assert value == pytest.approx(reference, rel=1e-8)


def test_new_customer_expectation_is_finite_and_positive_for_extreme_parameters():
    for params in ({"r": 0.243, "alpha": 4.414, "a": 300.0, "b": 3000.0},
                   {"r": 0.243, "alpha": 4.414, "a": 1e10, "b": 2.426},
                   {"r": 0.243, "alpha": 4.414, "a": 1e-10, "b": 1e10},
                   {"r": 1e-8, "alpha": 1e8, "a": 1e8, "b": 1e-8}):
        value = bgnbd.expected_purchases_new_customer(params, np.array([1.0, 39.0, 1e4]))
        assert np.all(np.isfinite(value)) and np.all(value > 0) and np.all(np.diff(value) > 0)


def test_limit_of_no_dropout_heterogeneity_is_the_fixed_p_model():
    """a, b -> infinity with a / (a + b) = p: E[X(T, T+t) | alive] -> (1 - (1 + p s)^-(r+x)) / p
    and the odds of having dropped out -> p / (1 - p) ((alpha+T)/(alpha+t_x))^(r+x)."""
    p, r, alpha = 0.004, 0.25, 4.0
    x, t_x, T, t = np.array([0.0, 1.0, 7.0]), np.array([0.0, 10.0, 30.0]), np.array([40.0, 50.0, 52.0]), 26.0
    s = t / (alpha + T)
    odds = np.where(x > 0, p / (1 - p) * ((alpha + T) / (alpha + t_x)) ** (r + x), 0.0)
    limit = (1 - (1 + p * s) ** -(r + x)) / p / (1 + odds)
    scale = 1e13
    params = {"r": r, "alpha": alpha, "a": p * scale, "b": (1 - p) * scale}
    np.testing.assert_allclose(bgnbd.expected_purchases(params, t, x, t_x, T), limit, rtol=1e-9)


def test_gamma_gamma_spend_finite_at_extreme_parameters():
    m = np.array([0.01, 35.0, 1e6])
    x = np.array([1.0, 10.0, 10000.0])
    for p in (1e-8, 1.0, 1e8):
        for q in (1.0 + 1e-8, 4.0, 1e8):
            for v in (1e-8, 15.0, 1e8):
                value = gamma_gamma.expected_spend({"p": p, "q": q, "v": v}, x, m)
                assert np.all(np.isfinite(value)) and np.all(value > 0)


def test_log_pochhammer_and_digamma_difference_match_mpmath():
    with mp.workdps(50):
        for y, k in ((1e12, 3.0), (35.0, 2.0), (1e-3, 4.0), (100.0, 1e4), (1e8, 0.5)):
            lp = float(mp.loggamma(mp.mpf(y) + k) - mp.loggamma(mp.mpf(y)))
            dd = float(mp.digamma(mp.mpf(y) + k) - mp.digamma(mp.mpf(y)))
            assert log_pochhammer(y, k) == pytest.approx(lp, rel=1e-13)
            assert digamma_difference(y, k) == pytest.approx(dd, rel=1e-12)


def test_load_model_refuses_parameters_beyond_the_evaluated_range(tmp_path, bg):
    record = bg.to_dict()
    record["params"]["a"] = 1e300
    with pytest.raises(ValueError, match="outside"):
        clv.model_from_dict(record)


def _continuous_table(n, seed=0):
    rng = np.random.default_rng(seed)
    T = rng.uniform(0.1, 52, n)
    table = bgnbd.sample({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}, T, rng)
    table["recency"] = np.minimum(table["recency"], table["T"])
    return table


def test_interpolated_clv_sum_equals_the_direct_sum():
    """Continuous times: the discounted sum is interpolated per frequency in ln(alpha + T);
    it must equal the period-by-period sum of the direct expectation to 1e-10."""
    params = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    table = _continuous_table(20_000)
    x, t_x, T = (table[c].to_numpy() for c in ("frequency", "recency", "T"))
    times = np.arange(1, 13) * 4.345
    discounts = 1.01 ** -np.arange(1.0, 13.0)
    fast = bgnbd.discounted_expected_purchases(params, times, discounts, x, t_x, T)
    direct, previous = np.zeros(len(x)), np.zeros(len(x))
    for time, discount in zip(times, discounts):
        cumulative = bgnbd._expected_while_alive(params["a"], params["b"] + x, params["r"] + x, time / (params["alpha"] + T))
        direct += discount * (cumulative - previous)
        previous = cumulative
    direct *= bgnbd.probability_alive(params, x, t_x, T)
    np.testing.assert_allclose(fast, direct, rtol=1e-10)


def test_day_resolution_table_without_time_unit_is_compressed():
    rng = np.random.default_rng(1)
    T_days = rng.integers(1, 365, 6000)
    table = bgnbd.sample({"r": 0.243, "alpha": 30.0, "a": 0.793, "b": 2.426}, T_days.astype(float), rng)
    table["recency"] = np.floor(table["recency"])
    table = table / [1, 7, 7]  # weeks at day resolution, as from SQL: no attrs
    assert not table.attrs
    bare = clv.BetaGeoModel().fit(table)
    assert bare.n_unique_rows_ < len(table) / 2
    table.attrs["time_unit"] = "W"
    tagged = clv.BetaGeoModel().fit(table)
    assert bare.n_unique_rows_ == tagged.n_unique_rows_
    pd.testing.assert_series_equal(bare.params_, tagged.params_, rtol=1e-9)


# ----- the stable formulas with one parameter set per customer (covariates, MBG/NBD) ---------
def _per_customer_case(n=40, seed=3):
    rng = np.random.default_rng(seed)
    x = np.sort(rng.integers(0, 60, n).astype(float))[::-1].copy()  # some beyond 24 purchases
    T = rng.uniform(1, 60, n)
    t_x = np.where(x > 0, T * rng.uniform(0, 1, n), 0.0)
    params = {
        "r": np.full(n, 0.6),
        "alpha": np.exp(rng.normal(1.0, 0.5, n)),
        "a": np.exp(rng.normal(0.0, 3.0, n)),  # from 1e-4-ish to 1e4-ish, across a = 1 and 2
        "b": np.exp(rng.normal(1.0, 6.0, n)),  # tiny to huge
    }
    return params, x, t_x, T


@pytest.mark.parametrize("module", [bgnbd, mbgnbd])
def test_per_customer_parameters_give_each_customers_own_prediction(module):
    params, x, t_x, T = _per_customer_case()
    times = np.arange(1, 7) * 4.0
    discounts = 0.98 ** np.arange(1, 7)
    together = {
        "expected": module.expected_purchases(params, 10.0, x, t_x, T),
        "discounted": module.discounted_expected_purchases(params, times, discounts, x, t_x, T),
        "pmf": module.conditional_probability_of_purchases(params, 2, 6.0, x, t_x, T),
        "alive": module.probability_alive(params, x, t_x, T),
    }
    for name, values in together.items():
        assert np.all(np.isfinite(values)), name
    for i in range(len(x)):
        own = {k: float(v[i]) for k, v in params.items()}
        one = (x[i : i + 1], t_x[i : i + 1], T[i : i + 1])
        alone = {
            "expected": module.expected_purchases(own, 10.0, *one),
            "discounted": module.discounted_expected_purchases(own, times, discounts, *one),
            "pmf": module.conditional_probability_of_purchases(own, 2, 6.0, *one),
            "alive": module.probability_alive(own, *one),
        }
        for name, value in alone.items():
            np.testing.assert_allclose(together[name][i], value[0], rtol=1e-10, atol=1e-300, err_msg=name)


def test_row_derivatives_with_per_customer_parameters_add_up_to_the_shared_ones():
    # Customers sorted by decreasing frequency (the termwise sums, as covariates pass them)
    # and not sorted (special-function differences); huge b and a + b included.
    params, x, t_x, T = _per_customer_case()
    shared = {"r": 0.6, "alpha": 2.5, "a": 3.0, "b": 4e7}
    per_customer = {k: np.full(len(x), v) for k, v in shared.items()}
    reference = bgnbd.derivatives(tuple(shared.values()), bgnbd.prepare(
        {"frequency": x, "recency": t_x, "T": T}, np.ones(len(x))), 2)
    order = np.random.default_rng(0).permutation(len(x))
    for rows in (slice(None), order):
        columns = {"frequency": x[rows], "recency": t_x[rows], "T": T[rows]}
        data = bgnbd.prepare_rows(columns)
        ll, grad, hess = bgnbd.row_derivatives(per_customer, data, 2)
        np.testing.assert_allclose(ll.sum(), reference[0], rtol=1e-12)
        np.testing.assert_allclose([g.sum() for g in grad], reference[1], rtol=1e-9)
        for (i, j), values in hess.items():
            np.testing.assert_allclose(values.sum(), reference[2][i, j], rtol=1e-8, atol=1e-12 * abs(reference[2]).max())
        np.testing.assert_allclose(ll, bgnbd.log_likelihood(shared, *columns.values()), rtol=1e-12)
