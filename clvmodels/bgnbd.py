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
from ._intervals import spread_over_periods, survival_table
from ._special import (
    beta_expectation, beta_expectation_tabulated, digamma_difference, log_beta_ratio, log_pochhammer,
    smooth_by_group,
)
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
    return _log_likelihood(r, alpha, a, b, x, T, np.where(x > 0, _log_odds_dead(r, alpha, a, b, x, t_x, T), -np.inf))


def _log_likelihood(r, alpha, a, b, x, T, log_odds):
    """Eq. 6 given the log-odds of having dropped out (-inf where that is impossible)."""
    # ln G(r+x) - ln G(r) and the Beta ratio without differences of huge log-gammas, and
    # r ln(alpha / (alpha + T)) without cancellation, so the likelihood stays accurate as
    # parameters run off towards a limit (see clvmodels._optimize.maximise_with_boundary).
    # Elementwise, so r, alpha, a, b may hold one value per customer (covariates).
    return (
        log_pochhammer(r, x) + log_beta_ratio(a, b, x)
        - r * np.log1p(T / alpha) - x * np.log(alpha + T) + np.logaddexp(0.0, log_odds)
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
        inv_b_u = np.where(data["dropout_per_x"], 1.0 / ((xu - 1) + b), 0.0)
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


def _trigamma(values):
    return special.polygamma(1, values)


def _trigamma_difference(c, x):
    return _trigamma(c + x) - _trigamma(c)


def _difference_of_x(function, shift, data, rows=None):
    """``function(shift, x)`` (a difference such as ln G(shift + x) - ln G(shift)) per row
    (per repeat buyer with ``rows``), evaluated once per distinct x when ``shift`` is one
    number."""
    if np.ndim(shift) == 0:
        values = function(shift, data["x_unique"])
        return values[data["x_index"] if rows is None else data["xr_index"]]
    return function(shift, data["x"] if rows is None else data["xr"])


def _rising(shift, data, order):
    """ln G(c + x) - ln G(c), and for ``order`` >= 1 and 2 its first and second derivatives
    in c (differences of digamma and trigamma), per repeat buyer, c = ``shift``.

    With one c per customer and rows sorted by frequency they are the sums over
    j < x of ln(c + j), 1/(c + j) and -1/(c + j)^2, term by term over the prefixes of
    customers with more than j purchases; special functions finish the few with more
    than ``_TERMWISE_PURCHASES``.
    """
    above = data["buyers_above"]
    differences = (log_pochhammer, digamma_difference, _trigamma_difference)  # accurate for huge c
    if np.ndim(shift) == 0 or above is None:
        return [_difference_of_x(f, shift, data, True) for f in differences[: order + 1]]
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
        c, rest = shift[:m] + _TERMWISE_PURCHASES, data["xr"][:m] - _TERMWISE_PURCHASES
        for total, f in zip(sums, differences):
            total[:m] += f(c, rest)
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

    # As in log_likelihood: no differences of huge log-gammas, and r ln(alpha / (alpha + T))
    # as -r ln(1 + T / alpha), so the rows stay accurate as parameters run off.
    log_alpha_T, log_T_over_alpha = np.log(alpha + T), np.log1p(T / alpha)
    ll = _difference_of_x(log_pochhammer, r, data) - r * log_T_over_alpha - x * log_alpha_T
    inv_t_xr = 1.0 / (alpha_r + t_xr)
    log_ratio = np.log1p(data["gap_r"] * inv_t_xr)
    r_plus_xr = r_r + xr
    inv_bx = 1.0 / ((xr - 1) + b_r)  # exact for tiny b
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
    T_over = T / (alpha * (alpha + T))  # 1/alpha - 1/(alpha + T)
    inv_diff = inv_Tr - inv_t_xr
    L_alpha = r_plus_xr * inv_diff
    grad_r = _difference_of_x(digamma_difference, r, data) - log_T_over_alpha
    grad_r[rep] += p_dead * log_ratio
    grad_alpha = r * T_over - x * inv_T
    grad_alpha[rep] += p_dead * L_alpha
    grad_a, grad_b = np.zeros(n), np.zeros(n)
    grad_a[rep] = p_dead / a_r - rising_ab[1]
    grad_b[rep] = rising_b[1] - rising_ab[1] - p_dead * inv_bx
    grad = [grad_r, grad_alpha, grad_a, grad_b]
    if order == 1:
        return ll, grad, None

    s = p_dead * (1 - p_dead)
    hess = {key: np.zeros(n) for key in ((0, 2), (0, 3), (1, 2), (1, 3), (2, 2), (2, 3), (3, 3))}
    hess[0, 0] = _difference_of_x(_trigamma_difference, r, data)
    hess[0, 0][rep] += s * log_ratio**2
    hess[0, 1] = T_over.copy()  # added to in place below; T_over is used again
    hess[0, 1][rep] += s * log_ratio * L_alpha + p_dead * inv_diff
    hess[1, 1] = -r * T_over * (1.0 / alpha + inv_T) + x * inv_T**2
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
    many customers (see :func:`clvmodels._special.smooth_by_group`). Where r, a or b
    hold one value per customer (covariates) each element is evaluated on its own."""
    if _per_customer(r, a, b):
        r, a, b, x, s = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (r, a, b, x, s)))
        result = np.zeros(x.shape)
        positive = s > 0  # no time, no purchases
        if np.any(positive):
            xp = x[positive]
            result[positive] = _expected_while_alive(a[positive], b[positive] + xp, r[positive] + xp, s[positive])
        return result
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
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    return _expected_if_alive(*_unpack(params), t, x, T, ticks_per_unit) * probability_alive(params, x, t_x, T)


def _expected_if_alive(r, alpha, a, b, t, x, T, ticks_per_unit=None):
    """E[X(T, T + t) | alive at T, x, T]: eq. 10 before weighting by P(alive)."""
    t = check_times(t)
    if t.ndim == 0 and not _per_customer(r, alpha, a, b):
        xs, Ts, index = _per_distinct_x_T(np.ravel(x), np.ravel(T), ticks_per_unit)
        unconditional = _unconditional_expected(r, alpha, a, b, t, xs, Ts)
        return (unconditional if index is None else unconditional[index]).reshape(np.shape(x))
    if t.ndim == 0 and np.ndim(x) > 0:  # one horizon, one parameter set per customer: tabulated
        return _discounted_per_customer(r, alpha, a, b, t.reshape(1), np.ones(1), x, T)
    return _unconditional_expected(r, alpha, a, b, t, x, T)


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
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    discounted = _discounted_if_alive(*_unpack(params), times, discounts, x, T, ticks_per_unit)
    return discounted * probability_alive(params, x, t_x, T)


def _discounted_if_alive(r, alpha, a, b, times, discounts, x, T, ticks_per_unit=None):
    """:func:`discounted_expected_purchases` for a customer alive at T (also MBG/NBD's,
    at b + 1). With one parameter set per customer (covariates) nothing is shared
    between customers: each customer's expectations at the period ends are evaluated
    on their own."""
    times, discounts = check_times(times), np.asarray(discounts, dtype=float)
    weights = discounts - np.append(discounts[1:], 0.0)
    if _per_customer(r, alpha, a, b):
        return _discounted_per_customer(r, alpha, a, b, np.ravel(times), weights, x, T)
    xs, Ts, index = _per_distinct_x_T(np.ravel(x), np.ravel(T), ticks_per_unit)
    x_unique, group = unique_inverse(xs)

    def discounted(groups, log_age):
        s = times[None, :] / np.exp(log_age)[:, None]
        frequency = np.broadcast_to(x_unique[groups][:, None], s.shape)
        return _expected_by_frequency(r, a, b, frequency, s) @ weights

    total = smooth_by_group(discounted, group, np.log(alpha + Ts), log=bool(np.all(weights >= 0) and np.any(weights > 0)))
    total = total if index is None else total[index]
    return total.reshape(np.shape(x))


# Groups of customers (same r + x) smaller than this are evaluated customer by customer.
_MIN_TABULATED = 32


def _discounted_per_customer(r, alpha, a, b, times, weights, x, T):
    """sum_k weights[k] E[X(times[k]) | alive at T, x, T] per customer, where the
    parameters hold one value per customer (covariates).

    Customers with the same r + x share the integrand of :func:`_expected_while_alive`
    as a function of p and ln(alpha + T), so for each such group it is tabulated once
    (:func:`clvmodels._special.beta_expectation_tabulated`) and each customer costs a
    weighted sum over the grid with her own Beta(a, b + x) density; every period is
    summed inside the integrand. Customers the table does not cover (small groups,
    discount weights of both signs, a failed accuracy check) are evaluated one by one
    at every period end, as :func:`_unconditional_expected` does.
    """
    x, T, r, alpha, a, b = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, T, r, alpha, a, b)))
    shape = x.shape
    x, T, r, alpha, a, b = (np.ravel(v) for v in (x, T, r, alpha, a, b))
    total = np.full(x.shape, np.nan)
    if np.all(weights >= 0) and np.any(weights > 0) and np.all(times > 0):
        shape_r = r + x
        values, group = unique_inverse(shape_r)
        log_age = np.log(alpha + T)
        longest = float(times.max())
        for g in np.flatnonzero(np.bincount(group, minlength=len(values)) >= _MIN_TABULATED):
            rows = np.flatnonzero(group == g)
            total[rows] = _tabulated_group(values[g], a[rows], b[rows] + x[rows], log_age[rows], times, weights, longest)
    direct = np.flatnonzero(np.isnan(total))
    if len(direct):
        xd, Td = x[direct], T[direct]
        rd, alphad, ad, bd = r[direct], alpha[direct], a[direct], b[direct]
        per_period = np.stack([_unconditional_expected(rd, alphad, ad, bd, time, xd, Td) for time in times], axis=-1)
        total[direct] = per_period @ weights
    return total.reshape(shape)


# Taylor coefficients of (e^-y - 1 + y) / y^2 and (ln(1 + u) - u) / u^2, used below 0.5
# and 0.1, where the terms left out are below 1e-17 of the sum.
_EXP_LESS_LINEAR = np.array([(-1.0) ** k / special.factorial(k) for k in range(2, 18)])
_LOG1P_LESS_LINEAR = np.array([(-1.0) ** (k + 1) / k for k in range(2, 19)])


def _polynomial(coefficients, y):
    total = np.full(y.shape, coefficients[-1])
    for c in coefficients[-2::-1]:
        total *= y
        total += c
    return total


def _exp_less_linear(y):
    """e^-y - 1 + y for y >= 0, accurate also where it is ~y^2 / 2."""
    small = np.where(y < 0.5, y, 0.0)
    return np.where(y < 0.5, small * small * _polynomial(_EXP_LESS_LINEAR, small), np.expm1(-y) + y)


def _log1p_less_linear(u):
    """ln(1 + u) - u for u >= 0, accurate also where it is ~-u^2 / 2."""
    small = np.where(u < 0.1, u, 0.0)
    return np.where(u < 0.1, small * small * _polynomial(_LOG1P_LESS_LINEAR, small), np.log1p(u) - u)


def _tabulated_group(shape_r, a, b, log_age, times, weights, longest):
    """:func:`_discounted_per_customer` for customers of one r + x (NaN where not covered).

    Where a < 2 the expectation is taken at a + 1, as in :func:`_expected_while_alive`,
    so the density's left tail is short: E_{a,b}[g] = g(0) E_{a,b}[(1-p)^m] +
    a/(a+b) E_{a+1,b}[(g(p) - g(0) (1-p)^m) / p], here with one m for every period,
    m = 1 + (r + x + 1) s_max / 2 (s_max the longest time over alpha + T), large
    enough that the integrand is positive for every period.
    """
    total = np.full(a.shape, np.nan)
    raised = a < 2

    def integrand(p, q, log_ages, raise_a):
        s = times[None, None, :] * np.exp(-log_ages)[None, :, None]
        P, Q = p[:, None, None], q[:, None, None]
        u = P * s
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if not raise_a:
                value = np.where(P > 0, -np.expm1(-shape_r * np.log1p(u)) / P, shape_r * s)
                return value @ weights
            # (g(p) - g(0) (1-p)^m) / p = [1 - (1+u)^-r - r u (1-p)^m] / p^2 with u = p s,
            # as three terms without cancellation: -(e^-y - 1 + y) at y = r ln(1+u),
            # r (ln(1+u) - u) and -r u ((1-p)^m - 1).
            m = 1 + (shape_r + 1) * longest * np.exp(-log_ages)[None, :, None] / 2
            numerator = (shape_r * _log1p_less_linear(u) - _exp_less_linear(shape_r * np.log1p(u))
                         - shape_r * u * np.expm1(m * np.log(Q)))
            value = np.where(P > 1e-150, numerator / (P * P), shape_r * s * (m - (shape_r + 1) * s / 2))
        return value @ weights

    for raise_a in (False, True):
        rows = np.flatnonzero(raised == raise_a)
        if not len(rows):
            continue
        A, B, Y = a[rows] + raise_a, b[rows], log_age[rows]
        # For large s the integrand's mass lies near p ~ 1 / ((r + x) s): reach below it.
        low = -np.log1p(shape_r * longest * np.exp(-Y)) - (34.0 + np.maximum(0.0, -np.log(A))) / A
        values, ok = beta_expectation_tabulated(lambda p, q, ys: integrand(p, q, ys, raise_a), A, B, Y, low=low)
        if raise_a:
            m = 1 + (shape_r + 1) * longest * np.exp(-Y) / 2
            # E[(1-p)^m] = B(a, b + m) / B(a, b), as Pochhammer ratios in a (< 2 here; see log_beta_ratio)
            log_ratio = log_pochhammer(B, a[rows]) - log_pochhammer(B + m, a[rows])
            base = shape_r * float(times @ weights) * np.exp(log_ratio - Y)
            values = base + a[rows] / (a[rows] + B) * values
        total[rows] = np.where(ok, values, np.nan)
    return total


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
    r, alpha, a, b = _unpack(params)
    x, t_x, T = np.broadcast_arrays(x, t_x, T)
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = _log_odds_dead(r, alpha, a, b, *(np.atleast_1d(v) for v in (x, t_x, T))).reshape(x.shape)
        log_odds = np.where(x > 0, odds, -np.inf)
    alive, dead = special.expit(-log_odds), special.expit(log_odds)  # 1 - alive without rounding
    return _pmf_given_alive(r, alpha, a, b, n, t, x, T, alive, dead)


def _pmf_given_alive(r, alpha, a, b, n, t, x, T, alive, dead=None):
    """P(X(T, T + t) = n) given P(alive at T) = ``alive`` (and ``dead`` = 1 - alive, if
    known without rounding), lambda ~ Gamma(r + x, alpha + T) and p ~ Beta(a, b + x) for
    a customer alive at T. Elementwise: the parameters may hold one value per customer."""
    n = np.asarray(n, dtype=float)
    if dead is None:
        dead = 1 - alive
    shape = r + x
    age = alpha + T
    # 1 - q, with q = t / (age + t), without cancellation
    one_minus_q = age / (age + t)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # t -> 0: ln q -> -inf
        log_p = -np.log1p(t / age)  # ln(1 - q)
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


def survival_if_alive(params, t, floor, x, T):
    """P(X(T, T + t) > k | alive at T, x, T) for k = 0, 1, ... per (x, T), each row
    ending where it falls to ``floor`` (see :func:`clvmodels._intervals.survival_table`).

    Given alive at T, lambda ~ Gamma(r + x, alpha + T) and p ~ Beta(a, b + x) (Fader,
    Hardie & Lee 2006 note on the conditional PMF). The customer makes more than k
    purchases when her Poisson count N(t) exceeds k and she survives the dropout
    chance after each of her first k purchases, so

        S(k) = E[(1 - p)^k] P(N(t) > k) = [B(a, b + x + k) / B(a, b + x)] P(N(t) > k),

    N(t) negative binomial with shape r + x and q = t / (alpha + T + t). Both factors
    follow k by a ratio of polynomials, (b + x + k - 1) / (a + b + x + k - 1) and
    NB(k) / NB(k - 1) = q (r + x + k - 1) / k: no special function per k. The
    difference S(k - 1) - S(k) is the conditional PMF's P(X = k | alive).

    Parameters
    ----------
    params : mapping
        ``r``, ``alpha``, ``a``, ``b``: numbers, or arrays of shape (draws, 1) for
        several parameter draws at once.
    t : float
        Horizon in the unit of ``alpha``.
    floor : float
    x, T : ndarray
        Frequency and age of each state.

    Returns
    -------
    values, offsets
        As :func:`clvmodels._intervals.survival_table`.
    """
    r, alpha, a, b = _unpack(params)
    return survival_table(_TailRecurrence(r, alpha, a, b, t, x, T), floor)


class _TailRecurrence:
    """State of :func:`survival_if_alive`'s recurrence in k over (draws, states) arrays.

    The negative binomial term NB(k) is carried as ``scaled`` exp(``shift``): for a
    heavy buyer NB(0) underflows, so the scale starts at ln NB(0) and moves up by
    ln ``scaled`` whenever ``scaled`` grows large.
    """

    def __init__(self, r, alpha, a, b, t, x, T):
        x, T = np.asarray(x, dtype=float), np.asarray(T, dtype=float)
        shape, age = (np.atleast_2d(v) for v in np.broadcast_arrays(r + x, alpha + T))
        self.shape = np.array(shape, dtype=float)
        self.q = t / (age + t)
        self.b_x = np.broadcast_to(b + x, self.shape.shape).astype(float)
        self.a_b_x = self.b_x + a
        self.shift = -self.shape * np.log1p(t / age)  # ln NB(0) = (r + x) ln(1 - q)
        self.scaled = np.ones(self.shape.shape)
        self.base = np.exp(self.shift)
        self.tail = -np.expm1(self.shift)  # P(N > 0)
        self.beta = np.ones(self.shape.shape)  # E[(1 - p)^k]
        self.k = 0

    def survival(self):
        return self.beta * np.maximum(self.tail, 0.0)

    def advance(self, keep):
        if not keep.all():
            for name in ("shape", "q", "b_x", "a_b_x", "shift", "scaled", "base", "tail", "beta"):
                setattr(self, name, getattr(self, name)[:, keep])
        self.k += 1
        k = self.k
        self.scaled *= (self.shape + (k - 1)) * (self.q / k)
        self.tail -= self.scaled * self.base
        self.beta *= (self.b_x + (k - 1)) / (self.a_b_x + (k - 1))
        large = self.scaled > 1e150
        if large.any():
            self.shift[large] += np.log(self.scaled[large])
            self.scaled[large] = 1.0
            self.base[large] = np.exp(self.shift[large])
        return self.survival()


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
    buyers, counts = _future_buyers_given_alive(r, alpha, a, b, period_ends, x, T, alive, random_state)
    dense = np.zeros((len(x), counts.shape[1]), dtype=np.int64)
    dense[buyers] = counts
    return dense


def sample_future_buyers(params, period_ends, x, t_x, T, random_state=None):
    """:func:`sample_future_purchases` for the customers who buy: their positions and
    their purchases per period (every other customer buys nothing). Latent rates are
    drawn for the customers alive at T only and the purchases are spread for the
    buyers only, so a draw costs little where most customers buy nothing.

    Returns
    -------
    buyers : ndarray of int64
    counts : ndarray of int64, shape (len(buyers), periods)
    """
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    alive = probability_alive(params, x, t_x, T)
    return _future_buyers_given_alive(*_unpack(params), period_ends, x, T, alive, random_state)


def _future_buyers_given_alive(r, alpha, a, b, period_ends, x, T, alive, random_state):
    """:func:`sample_future_buyers` given P(alive at T) = ``alive`` (see
    :func:`_sample_future_given_alive`)."""
    rng = np.random.default_rng(random_state)
    ends = np.asarray(period_ends, dtype=float)
    horizon = float(ends[-1])
    x, T = np.ravel(x), np.ravel(T)
    living = np.flatnonzero(rng.random(x.shape) < alive)

    def at(rows, value):
        return value if np.ndim(value) == 0 else np.broadcast_to(value, x.shape)[rows]

    rate = rng.gamma(at(living, r) + x[living], 1.0 / (at(living, alpha) + T[living]))
    total = rng.poisson(rate * horizon)
    buying = np.flatnonzero(total)
    buyers, total = living[buying], total[buying]
    counts = spread_over_periods(total, horizon, ends, rng)
    # Dropping out after the J-th purchase (J >= 1) matters only to those with two or more.
    several = np.flatnonzero(total > 1)
    if several.size:
        rows = buyers[several]
        last = rng.geometric(np.clip(rng.beta(at(rows, a), at(rows, b) + x[rows]), 1e-300, 1.0))
        cut = last < total[several]
        if cut.any():
            cut_rows = several[cut]
            cumulative = np.minimum(np.cumsum(counts[cut_rows], axis=1), last[cut][:, None])
            cumulative[:, 1:] -= cumulative[:, :-1].copy()
            counts[cut_rows] = cumulative
    return buyers, counts


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
    alive_state_columns = ("frequency", "T")  # given alive at T, the future depends on x and T only
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
