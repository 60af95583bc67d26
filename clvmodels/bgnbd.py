"""BG/NBD: the beta-geometric / negative binomial model of repeat purchasing.

Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005), "'Counting your customers'
the easy way: an alternative to the Pareto/NBD model", Marketing Science 24(2),
275-284 (FHL 2005 below). While alive, a customer buys at Poisson rate
lambda ~ Gamma(r, alpha); after each repeat purchase she drops out with probability
p ~ Beta(a, b).

The functions here are pure: they take a parameter mapping (``r``, ``alpha``, ``a``,
``b``; ``alpha`` in the data's time unit) and arrays of frequency ``x``, recency
``t_x`` and age ``T``, so a Dask or Spark job can score with the JSON parameters
alone. :class:`BetaGeoModel` fits the parameters and wraps the functions.
"""

import sys

import numpy as np
from scipy import special

from ._arrays import distinct_rows, dot, unique_inverse
from ._families import Mixing, TransactionModel
from ._special import beta_expectation, digamma_difference, log_beta_ratio, log_pochhammer, smooth_by_group
from ._validation import check_times


def _unpack(params):
    return (float(params[k]) for k in ("r", "alpha", "a", "b"))


def _log_odds_dead(r, alpha, a, b, x, t_x, T):
    """log[(a / (b + x - 1)) ((alpha + T) / (alpha + t_x))^(r + x)] for x > 0 (FHL 2005 eq. 6).

    Computed in place on two scratch arrays: it runs over every customer.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        log_odds = np.subtract(T, t_x)
        scratch = np.add(t_x, alpha)
        log_odds /= scratch
        np.log1p(log_odds, out=log_odds)  # ln((alpha + T) / (alpha + t_x))
        np.add(x, r, out=scratch)
        log_odds *= scratch
        np.subtract(x, 1.0, out=scratch)  # (x - 1) + b: exact for tiny b
        scratch += b
        np.maximum(scratch, np.finfo(float).tiny, out=scratch)
        np.log(scratch, out=scratch)
        log_odds -= scratch
        log_odds += np.log(a)
    return log_odds


def log_likelihood(params, x, t_x, T):
    """Log-likelihood of each customer's (x, t_x, T) (FHL 2005 eq. 6), in log space.

    ln L = ln G(r+x) - ln G(r) + r ln alpha + ln B(a, b+x) - ln B(a, b) - (r+x) ln(alpha+T)
           + ln(1 + [x>0] (a / (b+x-1)) ((alpha+T)/(alpha+t_x))^(r+x)).

    Parameters
    ----------
    params : mapping
        ``r``, ``alpha``, ``a``, ``b``.
    x, t_x, T : array-like
        Repeat purchases, time of the last purchase, time since the first purchase.

    Returns
    -------
    ndarray
    """
    r, alpha, a, b = _unpack(params)
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    log_odds = np.where(x > 0, _log_odds_dead(r, alpha, a, b, x, t_x, T), -np.inf)
    # ln G(r+x) - ln G(r) and the Beta ratio without differences of huge log-gammas, and
    # r ln(alpha / (alpha + T)) without cancellation, so the likelihood stays accurate as
    # parameters run off towards a limit (see clvmodels._optimize.maximise_with_boundary).
    return (
        log_pochhammer(r, x) + log_beta_ratio(a, b, x)
        - r * np.log1p(T / alpha) - x * np.log(alpha + T) + np.logaddexp(0.0, log_odds)
    )


def prepare(columns, weights):
    """Split the rows for :func:`derivatives`: terms in x alone are summed per distinct
    x; the dropout terms are needed for repeat buyers only."""
    x, t_x, T = columns["frequency"], columns["recency"], columns["T"]
    x_unique, x_index = unique_inverse(x)
    repeat = x > 0
    t_xr = t_x[repeat]
    return {
        "T": T, "w": weights, "wx": weights * x, "w_sum": weights.sum(),
        "x_unique": x_unique, "w_per_x": np.bincount(x_index, weights=weights, minlength=len(x_unique)),
        "xr": x[repeat], "xr_index": x_index[repeat], "t_xr": t_xr, "gap_r": T[repeat] - t_xr, "wr": weights[repeat],
    }


def derivatives(params, data, order):
    """Weighted total of eq. 6 and its gradient and Hessian w.r.t. (r, alpha, a, b).

    Writing the dropout term as softplus(L) with L the log-odds of having dropped out
    after the last purchase, its derivatives are w L' and w(1-w) L'L'^T + w L'' with
    w = expit(L). Terms in x alone (gamma functions, 1/(b+x-1)) are evaluated per
    distinct frequency.
    """
    r, alpha, a, b = params
    xu, wu, w_sum = data["x_unique"], data["w_per_x"], data["w_sum"]
    T, w, wx = data["T"], data["w"], data["wx"]
    xr, t_xr, wr, xr_index = data["xr"], data["t_xr"], data["wr"], data["xr_index"]

    log_alpha_T = np.log(alpha + T)
    inv_t_xr = 1.0 / (alpha + t_xr)
    log_ratio = np.log1p(data["gap_r"] * inv_t_xr)  # ln((alpha + T) / (alpha + t_x))
    r_plus_xr = r + xr
    with np.errstate(divide="ignore"):
        # 1/(b+x-1) per distinct x; 0 at x = 0, which no repeat row indexes.
        inv_b_u = np.where(xu > 0, 1.0 / ((xu - 1) + b), 0.0)
        L = (np.log(a) + np.log(inv_b_u))[xr_index] + r_plus_xr * log_ratio
    # softplus(L) = ln(1 + e^L), written to neither overflow nor cost a logaddexp.
    softplus = np.maximum(L, 0.0) + np.log1p(np.exp(-np.abs(L)))
    # Written to stay accurate as parameters run off (see log_likelihood).
    gamma_terms = log_pochhammer(r, xu) + log_pochhammer(b, xu) - log_pochhammer(a + b, xu)
    log_T_over_alpha = np.log1p(T / alpha)  # ln((alpha + T) / alpha)
    ll = dot(wu, gamma_terms) - r * dot(w, log_T_over_alpha) - dot(wx, log_alpha_T) + dot(wr, softplus)
    if order == 0:
        return ll, None, None

    p_dead = np.exp(L - softplus)
    wp = wr * p_dead  # weight times P(dropped out | x, t_x, T)
    wp_per_x = np.bincount(xr_index, weights=wp, minlength=len(xu))
    inv_T = 1.0 / (alpha + T)
    T_over = T / (alpha * (alpha + T))  # 1/alpha - 1/(alpha + T)
    inv_Tr = 1.0 / (alpha + t_xr + data["gap_r"])
    inv_diff = inv_Tr - inv_t_xr
    L_alpha = r_plus_xr * inv_diff
    step_ab = digamma_difference(a + b, xu)  # psi(a+b+x) - psi(a+b), accurate for huge a + b
    wp_sum = wp_per_x.sum()
    grad = np.array([
        dot(wu, digamma_difference(r, xu)) - dot(w, log_T_over_alpha) + dot(wp, log_ratio),
        r * dot(w, T_over) - dot(wx, inv_T) + dot(wp, L_alpha),
        -dot(wu, step_ab) + wp_sum / a,
        dot(wu, digamma_difference(b, xu) - step_ab) - dot(wp_per_x, inv_b_u),
    ])
    if order == 1:
        return ll, grad, None

    # The softplus(L) part, with L' = (ln ratio, L_alpha, 1/a, -1/(b+x-1)), then L''.
    s = wp * (1 - p_dead)
    s_ratio, s_alpha = s * log_ratio, s * L_alpha
    per_x = lambda values: np.bincount(xr_index, weights=values, minlength=len(xu))  # noqa: E731
    s_u, s_ratio_u, s_alpha_u = per_x(s), per_x(s_ratio), per_x(s_alpha)
    hess = np.array([
        [dot(s_ratio, log_ratio), dot(s_ratio, L_alpha), s_ratio_u.sum() / a, -dot(s_ratio_u, inv_b_u)],
        [0.0, dot(s_alpha, L_alpha), s_alpha_u.sum() / a, -dot(s_alpha_u, inv_b_u)],
        [0.0, 0.0, s_u.sum() / a**2, -dot(s_u, inv_b_u) / a],
        [0.0, 0.0, 0.0, dot(s_u, inv_b_u**2)],
    ])
    hess = np.triu(hess) + np.triu(hess, 1).T
    tri_ab, tri_abx = special.polygamma(1, a + b), special.polygamma(1, a + b + xu)
    hess[0, 0] += dot(wu, special.polygamma(1, r + xu) - special.polygamma(1, r))
    hess[0, 1] += dot(w, T_over) + dot(wp, inv_diff)
    hess[1, 0] = hess[0, 1]
    hess[1, 1] += (
        -r * dot(w, T_over * (1.0 / alpha + inv_T)) + dot(wx, inv_T**2)
        + dot(wp * r_plus_xr, inv_t_xr**2 - inv_Tr**2)
    )
    ab = dot(wu, tri_ab - tri_abx)
    hess[2, 2] += ab - wp_sum / a**2
    hess[2, 3] += ab
    hess[3, 2] = hess[2, 3]
    hess[3, 3] += dot(wu, tri_ab + special.polygamma(1, b + xu) - special.polygamma(1, b) - tri_abx) + dot(wp_per_x, inv_b_u**2)
    return ll, grad, hess


def probability_alive(params, x, t_x, T):
    """P(alive at T | x, t_x, T) (FHL 2005 eq. 11); 1 for customers with no repeat purchase."""
    r, alpha, a, b = _unpack(params)
    x, t_x, T = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, t_x, T)))
    shape = x.shape
    x, t_x, T = (np.atleast_1d(v) for v in (x, t_x, T))
    alive = _log_odds_dead(r, alpha, a, b, x, t_x, T)
    np.negative(alive, out=alive)
    special.expit(alive, out=alive)
    alive[x == 0] = 1.0
    return alive.reshape(shape) if shape else float(alive[0])


def _expected_while_alive(a, b, r, s):
    """E[(1 - (1 + p s)^-r) / p] for p ~ Beta(a, b), elementwise.

    This is the expected number of purchases in the next ``t`` time units of a customer
    alive now whose purchase rate is Gamma(r, alpha + T) and dropout probability
    Beta(a, b) (r = r + x, b = b + x after x repeat purchases; s = t / (alpha + T)):
    with those rates fixed an alive customer makes (1 - e^(-lambda p t)) / p purchases
    in expectation, and averaging over lambda gives the integrand. It equals FHL 2005
    eq. 10's (a+b-1)/(a-1) [1 - (1+s)^-r 2F1(r, b; a+b-1; s/(1+s))] (Euler's integral
    of 2F1), but the integral has no removable singularity at a = 1, no cancellation
    between 1 and the hypergeometric term, and no overflow for large parameters.

    It is evaluated by :func:`clvmodels._special.beta_expectation` (a trapezoidal rule
    in logit p). A shape below the rule's range is raised by one first: for a < 2
    (where the integrand's growth towards p = 0 is not outweighed by the density),

        E_{a,b}[g] = g(0) E_{a,b}[(1-p)^m] + a/(a+b) E_{a+1,b}[(g(p) - g(0) (1-p)^m) / p],

    with E_{a,b}[(1-p)^m] = B(a, b+m) / B(a, b) exact and m ~ (r+1)s/2 chosen so the
    difference is small where p s is; for b < 1, E_{a,b}[f] = f(1) + b/(a+b)
    E_{a,b+1}[(f(p) - f(1)) / (1-p)], whose terms are both positive.
    """
    a, b, r, s = (np.ravel(v).astype(float) for v in np.broadcast_arrays(a, b, r, s))
    at_zero = r * s
    m = np.maximum((r + 1) * s / 2, 1.0)

    def g(p, q, rows):
        R, S = r[rows, None], s[rows, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            value = -np.expm1(-R * np.log1p(p * S)) / p
        return np.where(p > 0, value, R * S)

    def g_less_h_over_p(p, q, rows):
        G0, M = at_zero[rows, None], m[rows, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            value = (g(p, q, rows) - G0 * np.exp(M * np.log(q))) / p
        return np.where(p > 0, value, G0 * (M - (r[rows, None] + 1) * s[rows, None] / 2))

    out = np.empty(a.shape)
    for raise_a in (False, True):
        for raise_b in (False, True):
            rows = np.flatnonzero(((a < 2) == raise_a) & ((b < 1) == raise_b))
            if len(rows):
                out[rows] = _beta_mean(g, g_less_h_over_p, a, b, rows, at_zero, m, raise_a, raise_b)
    return out


def _beta_mean(g, g_less_h_over_p, a, b, rows, at_zero, m, raise_a, raise_b):
    A, B = a[rows], b[rows]
    if raise_a:
        func, A_used = g_less_h_over_p, A + 1
        base = at_zero[rows] * np.exp(log_beta_ratio(A, B, m[rows]))
        weight = A / (A + B)
        reach = -np.log(m[rows]) - 40.0
    else:
        func, A_used, base, weight, reach = g, A, 0.0, 1.0, None

    def expect(f, shape_b):
        return beta_expectation(lambda p, q, local: f(p, q, rows[local]), A_used, shape_b, reach)

    if not raise_b:
        return base + weight * expect(func, B)

    def at_one(p, q, index):
        return func(np.ones_like(p), np.zeros_like(q), index)

    def quotient(p, q, index):
        with np.errstate(divide="ignore", invalid="ignore"):
            value = (func(p, q, index) - at_one(p, q, index)) / q
        return np.where(q > 0, value, 0.0)

    value_at_one = at_one(np.ones((len(rows), 1)), np.zeros((len(rows), 1)), rows)[:, 0]
    return base + weight * (value_at_one + B / (A_used + B) * expect(quotient, B + 1))


def _expected_by_frequency(r, a, b, x, s):
    """:func:`_expected_while_alive` at shapes (a, b + x), r + x and ``s``, per element:
    evaluated once per distinct x, and interpolated in ln s where a frequency has
    many customers (see :func:`clvmodels._special.smooth_by_group`)."""
    x, s = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(s, dtype=float))
    shape = x.shape
    x_unique, group = unique_inverse(x.ravel())
    result = np.zeros(x.size)
    positive = s.ravel() > 0  # no time, no purchases

    def at(groups, log_s):
        xs = x_unique[groups]
        return _expected_while_alive(a, b + xs, r + xs, np.exp(log_s))

    if np.any(positive):
        with np.errstate(divide="ignore"):
            log_s = np.log(s.ravel()[positive])
        result[positive] = smooth_by_group(at, group[positive], log_s, log=True)
    return result.reshape(shape)


def _expected_new(r, alpha, a, b, t):
    """FHL 2005 eq. 9: E[X(t)] of a customer just acquired (x = 0, T = 0)."""
    t = np.asarray(t, dtype=float)
    value = _expected_by_frequency(r, a, b, np.zeros(t.shape), t / alpha)
    return value if value.ndim else float(value)


def expected_purchases_new_customer(params, t):
    """E[X(t)] for a customer just acquired (FHL 2005 eq. 9), ``t`` in the model's time unit."""
    r, alpha, a, b = _unpack(params)
    return _expected_new(r, alpha, a, b, check_times(t))


def _unconditional_expected(r, alpha, a, b, t, x, T):
    """The expectation of FHL 2005 eq. 10 before weighting by P(alive): expected
    purchases in (T, T + t] of a customer alive at T with x repeat purchases
    (:func:`_expected_while_alive` with s = t / (alpha + T)); finite and accurate for any
    parameters and frequency."""
    x, T = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(T, dtype=float))
    return _expected_by_frequency(r, a, b, x, np.asarray(t, dtype=float) / (alpha + T))


def _per_distinct_x_T(x, T, ticks_per_unit):
    """Distinct (x, T) pairs and the index of each customer into them, when times are
    on a grid of ``ticks_per_unit`` per unit; else the arrays themselves."""
    if ticks_per_unit is not None and len(x) > 1000:
        found = distinct_rows({"x": x, "T": T}, {"x": 1.0, "T": ticks_per_unit})
        if found is not None:
            return found[0]["x"], found[0]["T"], found[1]
    return x, T, None


def expected_purchases(params, t, x, t_x, T, ticks_per_unit=None):
    """E[X(T, T + t) | x, t_x, T]: expected purchases in the next ``t`` time units (FHL 2005 eq. 10).

    Parameters
    ----------
    params : mapping
        ``r``, ``alpha``, ``a``, ``b``.
    t : float or array-like
        Horizon(s) in the unit of ``alpha``; an array broadcasts against the customers.
    x, t_x, T : array-like
        Frequency, recency and age of each customer.
    ticks_per_unit : float, optional
        Resolution of ``T`` (7 for weeks measured in days): the hypergeometric part is
        then evaluated once per distinct (x, T).
    """
    r, alpha, a, b = _unpack(params)
    t = check_times(t)
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    alive = probability_alive(params, x, t_x, T)
    if t.ndim == 0:
        xs, Ts, index = _per_distinct_x_T(np.ravel(x), np.ravel(T), ticks_per_unit)
        unconditional = _unconditional_expected(r, alpha, a, b, t, xs, Ts)
        return (unconditional if index is None else unconditional[index]).reshape(np.shape(x)) * alive
    return _unconditional_expected(r, alpha, a, b, t, x, T) * alive


def discounted_expected_purchases(params, times, discounts, x, t_x, T, ticks_per_unit=None):
    """sum_k discounts[k] (E[X(times[k])] - E[X(times[k-1])]), with E[X(0)] = 0, per customer.

    The churn-adjusted, discounted purchase count behind CLV, summed by parts as
    sum_k E[X(times[k])] (discounts[k] - discounts[k+1]) (discounts[K] = 0). Before the
    weighting by P(alive) it depends on a customer only through x and alpha + T: it is
    evaluated once per distinct (x, T) when ``ticks_per_unit`` says times are on a
    grid, and otherwise, per distinct x, interpolated in ln(alpha + T) (with a checked
    error, see :func:`clvmodels._special.smooth_by_group`), so the cost per customer is
    one short polynomial, not one expectation per period.
    """
    r, alpha, a, b = _unpack(params)
    times, discounts = check_times(times), np.asarray(discounts, dtype=float)
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    weights = discounts - np.append(discounts[1:], 0.0)
    xs, Ts, index = _per_distinct_x_T(np.ravel(x), np.ravel(T), ticks_per_unit)
    x_unique, group = unique_inverse(xs)

    def discounted(groups, log_age):
        s = times[None, :] / np.exp(log_age)[:, None]
        frequency = np.broadcast_to(x_unique[groups][:, None], s.shape)
        return _expected_by_frequency(r, a, b, frequency, s) @ weights

    total = smooth_by_group(discounted, group, np.log(alpha + Ts), log=bool(np.all(weights >= 0) and np.any(weights > 0)))
    total = total if index is None else total[index]
    return total.reshape(np.shape(x)) * probability_alive(params, x, t_x, T)


def probability_of_purchases(params, n, t):
    """P(X(t) = n) for a customer just acquired (FHL 2005 eq. 8): the conditional
    probability of :func:`conditional_probability_of_purchases` with no history."""
    t = check_times(t)
    n = np.asarray(n, dtype=float)
    if np.any((n < 0) | (n != np.round(n))):
        raise ValueError("n must be a whole number >= 0")
    return conditional_probability_of_purchases(params, n, t, 0.0, 0.0, 0.0)


def sample(params, T, random_state=None):
    """Draw (frequency, recency, T) histories from the BG/NBD generative process.

    Parameters
    ----------
    params : mapping
        ``r``, ``alpha``, ``a``, ``b``.
    T : array-like
        Each customer's observation length, in the unit of ``alpha``.
    random_state : int or numpy.random.Generator, optional

    Returns
    -------
    pandas.DataFrame
        Columns frequency, recency, T (continuous times).
    """
    import pandas as pd

    r, alpha, a, b = _unpack(params)
    rng = np.random.default_rng(random_state)
    T = np.asarray(T, dtype=float)
    rate = rng.gamma(r, 1 / alpha, size=T.shape)
    dropout = rng.beta(a, b, size=T.shape)
    # Purchases while alive form a Poisson process; the customer drops out right after
    # the J-th repeat purchase, J ~ Geometric(p).
    purchases_if_alive = rng.poisson(rate * T)
    last_purchase = rng.geometric(np.clip(dropout, 1e-300, 1))
    x = np.minimum(purchases_if_alive, last_purchase)
    # Given n arrivals in (0, T], the x-th is T times the x-th of n sorted uniforms.
    with np.errstate(invalid="ignore"):
        t_x = np.where(x > 0, T * rng.beta(np.maximum(x, 1), np.maximum(purchases_if_alive - x + 1, 1)), 0.0)
    return pd.DataFrame({"frequency": x.astype(float), "recency": t_x, "T": T})


def conditional_probability_of_purchases(params, n, t, x, t_x, T):
    """P(X(T, T + t) = n | x, t_x, T): probability of exactly ``n`` purchases in the next
    ``t`` time units given the history (Fader, Hardie & Lee 2006, "Computing P(alive)
    and the conditional PMF", BG/NBD note).

    Given alive at T, the posterior of (lambda, p) is Gamma(r + x, alpha + T) x
    Beta(a, b + x). An alive customer makes n >= 1 purchases either by buying at least
    n times and dropping out right after the n-th (weight E[(1-p)^(n-1) p]) or by buying
    exactly n times and surviving them all (weight E[(1-p)^n]); the counts of a
    Poisson process with a Gamma rate are negative binomial. A customer who has
    dropped out makes none. ``n`` broadcasts against the customers.
    """
    r, alpha, a, b = _unpack(params)
    n = np.asarray(n, dtype=float)
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    x, t_x, T = np.broadcast_arrays(x, t_x, T)
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = _log_odds_dead(r, alpha, a, b, *(np.atleast_1d(v) for v in (x, t_x, T))).reshape(x.shape)
        log_odds = np.where(x > 0, odds, -np.inf)
    alive, dead = special.expit(-log_odds), special.expit(log_odds)  # 1 - alive without rounding
    shape = r + x
    age = alpha + T
    # 1 - q, with q = t / (age + t), without cancellation
    one_minus_q = age / (age + t)
    log_p = -np.log1p(t / age)  # ln(1 - q)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_q = np.where(t > 0, -np.log1p(age / t), -np.inf)
        log_exactly = log_pochhammer(shape, n) - special.gammaln(n + 1) + shape * log_p + np.where(n > 0, n * log_q, 0.0)
        survive_all = np.exp(log_beta_ratio(a, b + x, n) + log_exactly)
        drop_after_nth = np.where(
            n > 0,
            np.exp(np.log(a) - np.log(a + b + x + (n - 1)) + log_beta_ratio(a, b + x, np.maximum(n - 1, 0)))
            * special.betaincc(shape, np.maximum(n, 1), one_minus_q),  # I_q(n, shape)
            0.0,
        )
    return alive * (survive_all + drop_after_nth) + dead * (n == 0)


def mixing_distributions(params):
    """Purchase rate lambda ~ Gamma(r, alpha) (FHL 2005 eq. 2) and dropout probability
    p ~ Beta(a, b) (eq. 4) across customers."""
    from scipy import stats

    r, alpha, a, b = _unpack(params)
    return {
        "purchase": Mixing(stats.gamma(r, scale=1.0 / alpha), f"Gamma(r = {r:.3g}, α = {alpha:.3g})",
                           "purchase rate while alive, λ", per_time=True),
        "dropout": Mixing(stats.beta(a, b), f"Beta(a = {a:.3g}, b = {b:.3g})",
                          "probability of dropping out after a purchase, p", bounded=True),
    }


def scale_dropout(params, factor):
    """Parameters whose mean dropout probability a / (a + b) is ``factor`` times as
    large, with a + b (the concentration of p's Beta distribution) held fixed."""
    r, alpha, a, b = _unpack(params)
    concentration = a + b
    new_a = factor * a
    if new_a >= concentration:
        raise ValueError(
            f"a dropout factor of {factor:g} would make the mean dropout probability "
            f"{factor * a / concentration:.3g} >= 1"
        )
    return {"r": r, "alpha": alpha, "a": new_a, "b": concentration - new_a}


class BetaGeoModel(TransactionModel):
    """BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005).

    While alive, a customer buys at Poisson rate lambda ~ Gamma(r, alpha); after each
    repeat purchase she drops out with probability p ~ Beta(a, b).

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty on the parameters; 0 gives the maximum-likelihood estimate.
    max_iter : int, default 2000
        Iteration budget of each optimiser tried.

    Attributes
    ----------
    params_ : pandas.Series
        ``r``, ``alpha`` (in the data's time unit), ``a``, ``b``.
    log_likelihood_ : float
        Total log-likelihood of the fitted data.
    time_unit_ : str or None
        Time unit of the fitted data (from ``data.attrs["time_unit"]``).

    Examples
    --------
    >>> import clvmodels as clv
    >>> tx = clv.datasets.load_cdnow(sample=True)
    >>> rfm = clv.rfm_summary(tx, time_unit="W", observation_end="1997-09-30")
    >>> bg = clv.BetaGeoModel().fit(rfm)
    >>> bg.params_.round(4).to_dict()
    {'r': 0.2426, 'alpha': 4.4136, 'a': 0.7929, 'b': 2.4259}
    """

    key = "bgnbd"
    title = "BG/NBD"
    reference = "Fader, Hardie & Lee (2005), Marketing Science 24(2)"
    param_names = ("r", "alpha", "a", "b")
    rfm_columns = ("frequency", "recency", "T")
    time_params = ("alpha",)
    time_columns = ("recency", "T")
    param_descriptions = {
        "r": "shape of the purchase-rate distribution (Gamma)",
        "alpha": "scale of the purchase-rate distribution (Gamma rate)",
        "a": "dropout: first shape of the Beta distribution of p",
        "b": "dropout: second shape of the Beta distribution of p",
    }
    example_params = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}
    formulas = sys.modules[__name__]  # this module's functions (see clvmodels._families)
