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
from ._families import Mixing, TransactionModel, _checked_n
from ._intervals import spread_over_periods
from ._special import hyp2f1
from ._validation import check_times


def _unpack(params):
    """(r, alpha, a, b) as floats, or as arrays where the mapping holds one value per
    customer (models with covariates: see :mod:`clvmodels._covariates`)."""
    return (_number_or_array(params[k]) for k in ("r", "alpha", "a", "b"))


def _number_or_array(value):
    return float(value) if np.ndim(value) == 0 else np.asarray(value, dtype=float)


def _per_customer(*values):
    """Whether any parameter holds one value per customer (then nothing may be
    evaluated once per distinct history)."""
    return any(np.ndim(v) > 0 for v in values)


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
        np.add(x, b - 1, out=scratch)
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
    return _log_likelihood(r, alpha, a, b, x, T, np.where(x > 0, _log_odds_dead(r, alpha, a, b, x, t_x, T), -np.inf))


def _log_likelihood(r, alpha, a, b, x, T, log_odds):
    """Eq. 6 given the log-odds of having dropped out (-inf where that is impossible)."""
    return (
        special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
        + special.betaln(a, b + x) - special.betaln(a, b)
        - (r + x) * np.log(alpha + T) + np.logaddexp(0.0, log_odds)
    )


def prepare(columns, weights):
    """Split the rows for :func:`derivatives`: terms in x alone are summed per distinct
    x; the dropout terms are needed for repeat buyers only."""
    return _prepare_rows(columns, weights, columns["frequency"] > 0)


def _prepare_rows(columns, weights, dropout_rows):
    """:func:`prepare` with the dropout term (the softplus of eq. 6) on the rows where
    the boolean ``dropout_rows`` is true; MBG/NBD has it on every row."""
    x, t_x, T = columns["frequency"], columns["recency"], columns["T"]
    x_unique, x_index = unique_inverse(x)
    repeat = np.asarray(dropout_rows, dtype=bool)
    t_xr = t_x[repeat]
    return {
        "T": T, "w": weights, "wx": weights * x, "w_sum": weights.sum(),
        "x_unique": x_unique, "w_per_x": np.bincount(x_index, weights=weights, minlength=len(x_unique)),
        "dropout_per_x": np.bincount(x_index[repeat], minlength=len(x_unique)) > 0,
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
        # 1/(b+x-1) per distinct x; 0 where no row has the dropout term (x = 0 in BG/NBD).
        inv_b_u = np.where(data["dropout_per_x"], 1.0 / (b + xu - 1), 0.0)
        L = (np.log(a) + np.log(inv_b_u))[xr_index] + r_plus_xr * log_ratio
    # softplus(L) = ln(1 + e^L), written to neither overflow nor cost a logaddexp.
    softplus = np.maximum(L, 0.0) + np.log1p(np.exp(-np.abs(L)))
    gamma_terms = (
        special.gammaln(r + xu) - special.gammaln(r) + special.gammaln(a + b)
        + special.gammaln(b + xu) - special.gammaln(b) - special.gammaln(a + b + xu)
    )
    ll = dot(wu, gamma_terms) + r * np.log(alpha) * w_sum - r * dot(w, log_alpha_T) - dot(wx, log_alpha_T) + dot(wr, softplus)
    if order == 0:
        return ll, None, None

    p_dead = np.exp(L - softplus)
    wp = wr * p_dead  # weight times P(dropped out | x, t_x, T)
    wp_per_x = np.bincount(xr_index, weights=wp, minlength=len(xu))
    inv_T = 1.0 / (alpha + T)
    inv_Tr = 1.0 / (alpha + t_xr + data["gap_r"])
    inv_diff = inv_Tr - inv_t_xr
    L_alpha = r_plus_xr * inv_diff
    psi_ab, psi_abx = special.digamma(a + b), special.digamma(a + b + xu)
    wp_sum = wp_per_x.sum()
    grad = np.array([
        dot(wu, special.digamma(r + xu) - special.digamma(r)) + w_sum * np.log(alpha) - dot(w, log_alpha_T) + dot(wp, log_ratio),
        r * w_sum / alpha - r * dot(w, inv_T) - dot(wx, inv_T) + dot(wp, L_alpha),
        dot(wu, psi_ab - psi_abx) + wp_sum / a,
        dot(wu, psi_ab + special.digamma(b + xu) - special.digamma(b) - psi_abx) - dot(wp_per_x, inv_b_u),
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
    hess[0, 1] += w_sum / alpha - dot(w, inv_T) + dot(wp, inv_diff)
    hess[1, 0] = hess[0, 1]
    hess[1, 1] += (
        -r * w_sum / alpha**2 + r * dot(w, inv_T**2) + dot(wx, inv_T**2)
        + dot(wp * r_plus_xr, inv_t_xr**2 - inv_Tr**2)
    )
    ab = dot(wu, tri_ab - tri_abx)
    hess[2, 2] += ab - wp_sum / a**2
    hess[2, 3] += ab
    hess[3, 2] = hess[2, 3]
    hess[3, 3] += dot(wu, tri_ab + special.polygamma(1, b + xu) - special.polygamma(1, b) - tri_abx) + dot(wp_per_x, inv_b_u**2)
    return ll, grad, hess


# Sums over j < x of ln(b + j) and its derivatives are taken term by term up to this
# many purchases (cheaper than special functions of one argument per customer).
_TERMWISE_PURCHASES = 24


def prepare_rows(columns):
    """What :func:`row_derivatives` needs from the rows: the dropout term of eq. 6 is
    there for repeat buyers only, and terms in x alone are evaluated per distinct x
    where their parameter is shared by every customer. Rows sorted by decreasing
    frequency (as :mod:`clvmodels._covariates` passes them) make every subset a slice."""
    x, t_x, T = (np.asarray(columns[c], dtype=float) for c in ("frequency", "recency", "T"))
    n_repeat = int(np.count_nonzero(x > 0))
    descending = bool(np.all(x[1:] <= x[:-1]))
    repeat = slice(0, n_repeat) if descending else np.flatnonzero(x > 0)
    x_unique, x_index = unique_inverse(x)
    xr = x[repeat]
    data = {
        "x": x, "T": T, "repeat": repeat, "xr": xr, "t_xr": t_x[repeat], "gap_r": T[repeat] - t_x[repeat],
        "x_unique": x_unique, "x_index": x_index, "xr_index": x_index[repeat], "buyers_above": None,
    }
    if descending and n_repeat:
        # buyers_above[j]: how many repeat buyers (a prefix) made more than j purchases.
        above = np.bincount(xr.astype(np.int64)[xr <= _TERMWISE_PURCHASES], minlength=_TERMWISE_PURCHASES + 1)
        data["buyers_above"] = n_repeat - np.cumsum(above)[: _TERMWISE_PURCHASES + 1]
    return data


def _of_x(function, shift, data, rows=None):
    """``function(shift + x)`` per row (per repeat buyer with ``rows``), evaluated once per
    distinct x when ``shift`` is one number."""
    if np.ndim(shift) == 0:
        values = function(shift + data["x_unique"])
        return values[data["x_index"] if rows is None else data["xr_index"]]
    return function(shift + (data["x"] if rows is None else data["xr"]))


def _trigamma(values):
    return special.polygamma(1, values)


def _rising(shift, data, order):
    """ln G(c + x) - ln G(c), and for ``order`` >= 1 and 2 its first and second derivatives
    in c (differences of digamma and trigamma), per repeat buyer, c = ``shift``.

    With one c per customer and rows sorted by frequency they are the sums over
    j < x of ln(c + j), 1/(c + j) and -1/(c + j)^2, term by term over the prefixes of
    customers with more than j purchases; special functions finish the few with more
    than ``_TERMWISE_PURCHASES``.
    """
    above = data["buyers_above"]
    if np.ndim(shift) == 0 or above is None:
        functions = (special.gammaln, special.digamma, _trigamma)[: order + 1]
        return [_of_x(f, shift, data, True) - f(shift) for f in functions]
    sums = [np.zeros(len(shift)) for _ in range(order + 1)]
    for j in range(_TERMWISE_PURCHASES):
        m = above[j]
        if m == 0:
            break
        term = shift[:m] + j
        sums[0][:m] += np.log(term)
        if order >= 1:
            np.reciprocal(term, out=term)
            sums[1][:m] += term
            if order >= 2:
                term *= term
                sums[2][:m] -= term
    m = above[_TERMWISE_PURCHASES]
    if m:
        c, c_x = shift[:m] + _TERMWISE_PURCHASES, shift[:m] + data["xr"][:m]
        for total, f in zip(sums, (special.gammaln, special.digamma, _trigamma)):
            total[:m] += f(c_x) - f(c)
    return sums


def row_derivatives(params, data, order):
    """Each customer's log-likelihood (FHL 2005 eq. 6) and, for ``order`` 1 and 2, its
    gradient and Hessian w.r.t. (r, alpha, a, b), which may hold one value per customer.

    For models with covariates (:mod:`clvmodels._covariates`), which combine the rows
    by the chain rule. Writing the dropout term as softplus(L), L the log-odds of
    having dropped out, its derivatives are p L' and p(1-p) L'L'^T + p L'' with
    p = expit(L); ln B(a, b + x) - ln B(a, b) is ln G(b + x) - ln G(b) minus the same
    at a + b.

    Returns
    -------
    ll : ndarray
    grad : list of 4 ndarrays, or None
    hess : dict of (i, j) -> ndarray for i <= j, or None
    """
    r, alpha, a, b = _unpack(params)
    x, T, rep = data["x"], data["T"], data["repeat"]
    xr, t_xr = data["xr"], data["t_xr"]
    at_repeat = lambda v: v if np.ndim(v) == 0 else v[rep]  # noqa: E731
    r_r, alpha_r, a_r, b_r = (at_repeat(v) for v in (r, alpha, a, b))

    log_alpha, log_alpha_T = np.log(alpha), np.log(alpha + T)
    ll = _of_x(special.gammaln, r, data) - special.gammaln(r) + r * log_alpha - (r + x) * log_alpha_T
    inv_t_xr = 1.0 / (alpha_r + t_xr)
    log_ratio = np.log1p(data["gap_r"] * inv_t_xr)
    r_plus_xr = r_r + xr
    inv_bx = 1.0 / (b_r + xr - 1)
    with np.errstate(divide="ignore"):
        L = np.log(a_r) + np.log(inv_bx) + r_plus_xr * log_ratio
    softplus = np.maximum(L, 0.0) + np.log1p(np.exp(-np.abs(L)))
    ab_r = a_r + b_r
    rising_b, rising_ab = _rising(b_r, data, order), _rising(ab_r, data, order)
    ll[rep] += rising_b[0] - rising_ab[0] + softplus
    if order == 0:
        return ll, None, None

    n = len(x)
    p_dead = np.exp(L - softplus)
    inv_T, inv_Tr = 1.0 / (alpha + T), 1.0 / (alpha_r + T[rep])
    inv_diff = inv_Tr - inv_t_xr
    L_alpha = r_plus_xr * inv_diff
    grad_r = _of_x(special.digamma, r, data) - special.digamma(r) + log_alpha - log_alpha_T
    grad_r[rep] += p_dead * log_ratio
    grad_alpha = r / alpha - (r + x) * inv_T
    grad_alpha[rep] += p_dead * L_alpha
    grad_a, grad_b = np.zeros(n), np.zeros(n)
    grad_a[rep] = p_dead / a_r - rising_ab[1]
    grad_b[rep] = rising_b[1] - rising_ab[1] - p_dead * inv_bx
    grad = [grad_r, grad_alpha, grad_a, grad_b]
    if order == 1:
        return ll, grad, None

    s = p_dead * (1 - p_dead)
    hess = {key: np.zeros(n) for key in ((0, 2), (0, 3), (1, 2), (1, 3), (2, 2), (2, 3), (3, 3))}
    hess[0, 0] = _of_x(_trigamma, r, data) - _trigamma(r)
    hess[0, 0][rep] += s * log_ratio**2
    hess[0, 1] = 1.0 / alpha - inv_T
    hess[0, 1][rep] += s * log_ratio * L_alpha + p_dead * inv_diff
    hess[1, 1] = -r / alpha**2 + (r + x) * inv_T**2
    hess[1, 1][rep] += s * L_alpha**2 + p_dead * r_plus_xr * (inv_t_xr**2 - inv_Tr**2)
    hess[0, 2][rep] = s * log_ratio / a_r
    hess[0, 3][rep] = -s * log_ratio * inv_bx
    hess[1, 2][rep] = s * L_alpha / a_r
    hess[1, 3][rep] = -s * L_alpha * inv_bx
    hess[2, 2][rep] = (s - p_dead) / a_r**2 - rising_ab[2]
    hess[2, 3][rep] = -rising_ab[2] - s * inv_bx / a_r
    hess[3, 3][rep] = rising_b[2] - rising_ab[2] + (s + p_dead) * inv_bx**2
    return ll, grad, hess


def probability_alive(params, x, t_x, T):
    """P(alive at T | x, t_x, T) (FHL 2005 eq. 11); 1 for customers with no repeat purchase."""
    return _probability_alive(*_unpack(params), x, t_x, T)


def _probability_alive(r, alpha, a, b, x, t_x, T, alive_without_repeat=True):
    """Eq. 11; ``alive_without_repeat`` False drops the rule that a customer without
    repeat purchases is alive (MBG/NBD, whose customers may drop out at time 0)."""
    x, t_x, T = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, t_x, T)))
    shape = x.shape
    x, t_x, T = (np.atleast_1d(v) for v in (x, t_x, T))
    alive = _log_odds_dead(r, alpha, a, b, x, t_x, T)
    np.negative(alive, out=alive)
    special.expit(alive, out=alive)
    if alive_without_repeat:
        alive[x == 0] = 1.0
    return alive.reshape(shape) if shape else float(alive[0])


_A_NEAR_ONE = 1e-4


def _removable_at_a_equal_1(formula, a):
    """Evaluate ``formula(a)``, which has the factor 1 / (a - 1) of FHL 2005 eqs. 9-10.

    The expression has a finite limit at a = 1, but evaluating it there divides 0 by 0
    and near it loses digits to cancellation; within 1e-4 of 1 it is interpolated
    linearly between a = 1 -+ 1e-4 (error of order 1e-8).
    """
    near = np.abs(np.asarray(a) - 1) < _A_NEAR_ONE
    if not np.any(near):
        return formula(a)
    below, above = formula(1 - _A_NEAR_ONE), formula(1 + _A_NEAR_ONE)
    interpolated = below + (a - 1 + _A_NEAR_ONE) / (2 * _A_NEAR_ONE) * (above - below)
    if np.ndim(a) == 0:
        return interpolated
    return np.where(near, interpolated, formula(np.where(near, 2.0, a)))  # one a per customer


def _expected_new(r, alpha, a, b, t):
    z = t / (alpha + t)
    power = np.exp(r * (np.log(alpha) - np.log(alpha + t)))

    def formula(a):
        return (a + b - 1) / (a - 1) * (1 - power * hyp2f1(r, b, a + b - 1, z))

    return _removable_at_a_equal_1(formula, a)


def expected_purchases_new_customer(params, t):
    """E[X(t)] for a customer just acquired (FHL 2005 eq. 9), ``t`` in the model's time unit."""
    r, alpha, a, b = _unpack(params)
    return _expected_new(r, alpha, a, b, check_times(t))


def _unconditional_expected(r, alpha, a, b, t, x, T):
    """(a+b+x-1)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)] of
    FHL 2005 eq. 10, the expectation before weighting by P(alive).

    That product over- and underflows for heavy buyers; Euler's transformation turns
    it into (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z), which stays near 1, so the
    result is finite for any frequency.
    """
    log_one_minus_z = np.log(alpha + T) - np.log(alpha + T + t)
    z = -np.expm1(log_one_minus_z)

    def formula(a):
        c = a + b + x - 1
        tail = np.exp((a - 1) * log_one_minus_z) * hyp2f1(a + b - 1 - r, a - 1, c, z)
        return c / (a - 1) * (1 - tail)

    return _removable_at_a_equal_1(formula, a)


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
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    return _expected_if_alive(*_unpack(params), t, x, T, ticks_per_unit) * probability_alive(params, x, t_x, T)


def _expected_if_alive(r, alpha, a, b, t, x, T, ticks_per_unit=None):
    """E[X(T, T + t) | alive at T, x, T]: eq. 10 before weighting by P(alive)."""
    t = check_times(t)
    if t.ndim == 0 and not _per_customer(r, alpha, a, b):
        xs, Ts, index = _per_distinct_x_T(np.ravel(x), np.ravel(T), ticks_per_unit)
        unconditional = _unconditional_expected(r, alpha, a, b, t, xs, Ts)
        return (unconditional if index is None else unconditional[index]).reshape(np.shape(x))
    return _unconditional_expected(r, alpha, a, b, t, x, T)


def discounted_expected_purchases(params, times, discounts, x, t_x, T, ticks_per_unit=None):
    """sum_k discounts[k] (E[X(times[k])] - E[X(times[k-1])]), with E[X(0)] = 0, per customer.

    The churn-adjusted, discounted purchase count behind CLV. Evaluated once per
    distinct (x, T) when ``ticks_per_unit`` says times are on a grid, and weighted by
    P(alive) at the end, so the cost barely grows with the number of customers.
    """
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    discounted = _discounted_if_alive(*_unpack(params), times, discounts, x, T, ticks_per_unit)
    return discounted * probability_alive(params, x, t_x, T)


def _discounted_if_alive(r, alpha, a, b, times, discounts, x, T, ticks_per_unit=None):
    """:func:`discounted_expected_purchases` for a customer alive at T."""
    times, discounts = check_times(times), np.asarray(discounts, dtype=float)
    if _per_customer(r, alpha, a, b):
        ticks_per_unit = None
    xs, Ts, index = _per_distinct_x_T(x, T, ticks_per_unit)
    total = np.zeros_like(Ts)
    previous = np.zeros_like(Ts)
    for time, discount in zip(times, discounts):
        cumulative = _unconditional_expected(r, alpha, a, b, time, xs, Ts)
        total += discount * (cumulative - previous)
        previous = cumulative
    return total if index is None else total[index]


def probability_of_purchases(params, n, t):
    """P(X(t) = n) for a customer just acquired (FHL 2005 eq. 8): the conditional
    probability of :func:`conditional_probability_of_purchases` with no history."""
    return conditional_probability_of_purchases(params, _checked_n(n), check_times(t), 0.0, 0.0, 0.0)


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
    return _draw_histories(*_unpack(params), T, random_state)


def _draw_histories(r, alpha, a, b, T, random_state, dropout_at_start=False):
    """:func:`sample`; with ``dropout_at_start`` a customer may also drop out right
    after the first purchase (MBG/NBD)."""
    import pandas as pd

    rng = np.random.default_rng(random_state)
    T = np.asarray(T, dtype=float)
    rate = rng.gamma(r, 1 / alpha, size=T.shape)
    dropout = rng.beta(a, b, size=T.shape)
    # Purchases while alive form a Poisson process; the customer drops out right after
    # the J-th repeat purchase, J ~ Geometric(p) (after the (J-1)-th, counting the
    # first purchase as the 0-th, when she may drop out at the start).
    purchases_if_alive = rng.poisson(rate * T)
    last_purchase = rng.geometric(np.clip(dropout, 1e-300, 1)) - int(dropout_at_start)
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
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    return _pmf_given_alive(*_unpack(params), n, t, x, T, probability_alive(params, x, t_x, T))


def _pmf_given_alive(r, alpha, a, b, n, t, x, T, alive):
    """P(X(T, T + t) = n) given P(alive at T) = ``alive``, lambda ~ Gamma(r + x, alpha + T)
    and p ~ Beta(a, b + x) for a customer alive at T."""
    n = np.asarray(n, dtype=float)
    shape = r + x
    q = t / (alpha + T + t)
    log_p = np.log(alpha + T) - np.log(alpha + T + t)  # ln(1 - q)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_exactly = (
            special.gammaln(shape + n) - special.gammaln(shape) - special.gammaln(n + 1)
            + shape * log_p + special.xlogy(n, q)
        )
        survive_all = np.exp(special.betaln(a, b + x + n) - special.betaln(a, b + x) + log_exactly)
        drop_after_nth = np.where(
            n > 0,
            np.exp(special.betaln(a + 1, b + x + n - 1) - special.betaln(a, b + x))
            * special.betainc(np.maximum(n, 1), shape, q),
            0.0,
        )
    return alive * (survive_all + drop_after_nth) + (1 - alive) * (n == 0)


def sample_future_purchases(params, period_ends, x, t_x, T, random_state=None):
    """Draw each customer's purchases in consecutive future periods given the history.

    Alive at T with P(alive | history); if alive, lambda ~ Gamma(r + x, alpha + T) and
    p ~ Beta(a, b + x) (the posterior given alive), purchases arrive at rate lambda
    and the customer drops out right after the J-th, J ~ Geometric(p). The purchases
    a customer would make over the whole horizon are drawn at once and placed
    uniformly in time (as Poisson arrivals are, given their number); dropping out
    truncates their running count at J.

    Parameters
    ----------
    params : mapping
    period_ends : array-like
        Increasing ends of the periods, in the model's time unit after T.
    x, t_x, T : ndarray

    Returns
    -------
    ndarray of int64, shape (customers, periods)
    """
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    alive = probability_alive(params, x, t_x, T)
    return _sample_future_given_alive(*_unpack(params), period_ends, x, T, alive, random_state)


def _sample_future_given_alive(r, alpha, a, b, period_ends, x, T, alive, random_state):
    """:func:`sample_future_purchases` given P(alive at T) = ``alive``; alive customers
    have lambda ~ Gamma(r + x, alpha + T) and p ~ Beta(a, b + x)."""
    rng = np.random.default_rng(random_state)
    ends = np.asarray(period_ends, dtype=float)
    horizon = float(ends[-1])
    alive = rng.random(x.shape) < alive
    rate = rng.gamma(r + x, 1.0 / (alpha + T))
    total = rng.poisson(rate * horizon) * alive
    counts = spread_over_periods(total, horizon, ends, rng)
    buyers = np.flatnonzero(total)
    if buyers.size:
        a_buyers, b_buyers = (v if np.ndim(v) == 0 else np.broadcast_to(v, x.shape)[buyers] for v in (a, b))
        last = rng.geometric(np.clip(rng.beta(a_buyers, b_buyers + x[buyers]), 1e-300, 1.0))
        cumulative = np.minimum(np.cumsum(counts[buyers], axis=1), last[:, None])
        counts[buyers] = np.diff(cumulative, axis=1, prepend=0)
    return counts


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
    purchase_covariates : list of str, optional
        Numeric columns z whose coefficients g_p scale each customer's purchase rate
        by exp(g_p' z): alpha_i = alpha exp(-g_p' z_i) (Fader & Hardie 2007, note 019).
    dropout_covariates : list of str, optional
        Numeric columns with coefficients of their own on a and on b:
        a_i = a exp(g_a' z_i), b_i = b exp(g_b' z_i).
    covariate_penalizer : float, default 0.0
        L2 penalty on the coefficients of the standardised covariates.

    Attributes
    ----------
    params_ : pandas.Series
        ``r``, ``alpha`` (in the data's time unit), ``a``, ``b`` (with covariates: at
        covariates zero), then the coefficients ``purchase[z]``, ``dropout_a[z]``,
        ``dropout_b[z]``.
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
    # Covariates (clvmodels._covariates): the purchase rate scales as exp(g'z) through
    # alpha_i = alpha exp(-g'z); a and b have coefficients of their own (Fader & Hardie
    # 2007, "Incorporating time-invariant covariates into the Pareto/NBD and BG/NBD models").
    covariate_links = {"purchase": (("alpha", -1),), "dropout": (("a", 1), ("b", 1))}
    covariate_quantities = {
        "alpha": "the purchase rate",
        "a": "the dropout shape a (larger: more likely to drop out after a purchase)",
        "b": "the dropout shape b (larger: less likely to drop out after a purchase)",
    }
    formulas = sys.modules[__name__]  # this module's functions (see clvmodels._families)
