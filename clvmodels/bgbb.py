"""BG/BB: the beta-geometric / beta-binomial model of discrete-time repeat behaviour.

Fader, P. S., Hardie, B. G. S. and Shang, J. (2010), "Customer-base analysis in a
discrete-time noncontractual setting", Marketing Science 29(6), 1086-1108 (FHS 2010
below). Customers have one chance to transact per period (a yearly donation, an
annual event). After the first transaction (period 0), while alive, a customer
transacts at each of the opportunities 1, 2, ... with probability p ~ Beta(alpha,
beta); at the start of each opportunity she becomes inactive for good with
probability theta ~ Beta(gamma, delta), so she is alive at opportunity t with
probability (1 - theta)^t.

A history is (x, t_x, n): x = ``frequency`` transactions in the n = ``n_periods``
opportunities observed, the last at opportunity t_x = ``recency`` (0 if x = 0).
The time unit is the period: every horizon below is a number of periods.

The functions are pure: they take a parameter mapping (``alpha``, ``beta``,
``gamma``, ``delta``) and the column arrays, so a Dask or Spark job can score with
the JSON parameters alone. :class:`BetaGeoBetaBinomModel` fits and wraps them.
"""

import sys

import numpy as np
import pandas as pd
from scipy import special

from ._arrays import distinct_with_inverse, dot
from ._families import Mixing, TransactionModel
from ._special import hyp2f1
from ._validation import check_positive_number, check_times

# Ragged sums over the opportunities of many histories are evaluated in chunks of at
# most this many terms, so memory stays bounded for long histories.
_TERMS_PER_CHUNK = 1 << 22
# Within this distance of gamma = 1, the closed form of the alive sum (which divides
# by gamma - 1) is replaced by its second-order expansion.
_GAMMA_NEAR_ONE = 1e-5


def _unpack(params):
    return (float(params[k]) for k in ("alpha", "beta", "gamma", "delta"))


def _as_float(*arrays):
    return [np.asarray(v, dtype=float) for v in arrays]


def _whole(values, name):
    values = np.asarray(values, dtype=float)
    if np.any(~np.isfinite(values) | (values < 0) | (values != np.round(values))):
        raise ValueError(f"{name} must hold whole numbers of periods >= 0")
    return values


# ----- the likelihood --------------------------------------------------------------------
def _terms(x, t_x, n):
    """The ragged list of likelihood terms of each history (FHS 2010's likelihood).

    Term 0 of a history is "alive at all n opportunities"; term 1 + i is "alive
    through opportunity t_x + i, inactive from t_x + i + 1", i = 0 .. n - t_x - 1.
    Each term is B(alpha + x, beta + b) B(gamma + c, delta + e) / (B(alpha, beta)
    B(gamma, delta)); returned are the history index of each term and its offsets
    b, c, e.
    """
    counts = (n - t_x).astype(np.int64) + 1
    row = np.repeat(np.arange(len(n)), counts)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    i = np.arange(counts.sum()) - starts[row] - 1  # -1 for the alive term
    alive = i < 0
    b = np.where(alive, n[row] - x[row], t_x[row] - x[row] + i)
    c = np.where(alive, 0.0, 1.0)
    e = np.where(alive, n[row], t_x[row] + i)
    return row, starts, x[row], b, c, e


def _log_terms(params, x_term, b, c, e):
    alpha, beta, gamma, delta = params
    return (
        special.betaln(alpha + x_term, beta + b) - special.betaln(alpha, beta)
        + special.betaln(gamma + c, delta + e) - special.betaln(gamma, delta)
    )


def _log_sum_per_row(log_terms, starts):
    """log of the sum of each history's terms (a log-sum-exp over ragged runs)."""
    peak = np.maximum.reduceat(log_terms, starts)
    row_sizes = np.diff(np.append(starts, len(log_terms)))
    return peak + np.log(np.add.reduceat(np.exp(log_terms - np.repeat(peak, row_sizes)), starts))


def _chunks(x, t_x, n):
    """Slices of the histories whose terms fit in one chunk."""
    sizes = (n - t_x) + 1
    ends = np.cumsum(sizes)
    bounds = np.searchsorted(ends, np.arange(_TERMS_PER_CHUNK, ends[-1] + _TERMS_PER_CHUNK, _TERMS_PER_CHUNK), side="right")
    edges = np.unique(np.concatenate(([0], np.minimum(np.maximum(bounds, 1), len(n)), [len(n)])))
    return [slice(lo, hi) for lo, hi in zip(edges[:-1], edges[1:])]


def _log_likelihood_distinct(params, x, t_x, n):
    out = np.empty(len(n))
    for part in _chunks(x, t_x, n):
        _, starts, x_term, b, c, e = _terms(x[part], t_x[part], n[part])
        out[part] = _log_sum_per_row(_log_terms(params, x_term, b, c, e), starts)
    return out


def _per_history(function, x, t_x, n):
    """``function(x, t_x, n)`` evaluated once per distinct history, broadcast back."""
    x, t_x, n = np.broadcast_arrays(*_as_float(x, t_x, n))
    shape = x.shape
    if x.size == 0:
        return np.zeros(shape)
    distinct, index = distinct_with_inverse({"x": x.ravel(), "t_x": t_x.ravel(), "n": n.ravel()})
    values = function(distinct["x"], distinct["t_x"], distinct["n"])
    return values[index].reshape(shape)


def log_likelihood(params, x, t_x, n):
    """Log-likelihood of each history (x, t_x, n) (FHS 2010's likelihood function).

    L = B(alpha+x, beta+n-x)/B(alpha, beta) B(gamma, delta+n)/B(gamma, delta)
        + sum_{i=0}^{n-t_x-1} B(alpha+x, beta+t_x-x+i)/B(alpha, beta)
                              B(gamma+1, delta+t_x+i)/B(gamma, delta),

    summed in log space, once per distinct history.

    Parameters
    ----------
    params : mapping
        ``alpha``, ``beta``, ``gamma``, ``delta``.
    x, t_x, n : array-like
        Frequency, recency and number of opportunities (whole periods).

    Returns
    -------
    ndarray
    """
    values = tuple(_unpack(params))
    return _per_history(lambda x, t_x, n: _log_likelihood_distinct(values, x, t_x, n), x, t_x, n)


def prepare(columns, weights):
    """The ragged terms of the (distinct) rows, for :func:`derivatives`."""
    x, t_x, n = columns["frequency"], columns["recency"], columns["n_periods"]
    row, starts, x_term, b, c, e = _terms(x, t_x, n)
    return {"row": row, "starts": starts, "x": x, "x_term": x_term, "b": b, "c": c, "e": e, "w": weights}


def derivatives(params, data, order):
    """Weighted total of the log-likelihood and its gradient w.r.t. (alpha, beta, gamma, delta).

    The log of each history's likelihood is a log-sum-exp of its terms, so its
    gradient is the mean of the terms' gradients weighted by their shares of the
    sum; d/da ln B(a + u, b + v) = psi(a + u) - psi(a + b + u + v). The Hessian is
    left to the engine (differences of this gradient).
    """
    alpha, beta, gamma, delta = params
    row, starts, w = data["row"], data["starts"], data["w"]
    x_term, b, c, e = data["x_term"], data["b"], data["c"], data["e"]
    log_terms = _log_terms(params, x_term, b, c, e)
    log_l = _log_sum_per_row(log_terms, starts)
    ll = dot(w, log_l)
    if order == 0:
        return ll, None, None
    share = np.exp(log_terms - log_l[row]) * w[row]  # each term's share, times its row's weight
    psi_ab = special.digamma(alpha + beta + x_term + b)
    psi_gd = special.digamma(gamma + delta + c + e)
    w_sum = w.sum()
    grad = np.array([
        dot(w, special.digamma(alpha + data["x"])) - dot(share, psi_ab) + w_sum * (special.digamma(alpha + beta) - special.digamma(alpha)),
        dot(share, special.digamma(beta + b) - psi_ab) + w_sum * (special.digamma(alpha + beta) - special.digamma(beta)),
        dot(share, special.digamma(gamma + c) - psi_gd) + w_sum * (special.digamma(gamma + delta) - special.digamma(gamma)),
        dot(share, special.digamma(delta + e) - psi_gd) + w_sum * (special.digamma(gamma + delta) - special.digamma(delta)),
    ])
    return ll, grad, None


def start_params(columns, weights):
    """Start values: p's Beta centred on the observed purchase rate, theta's on a slow dropout."""
    x, n = columns["frequency"], columns["n_periods"]
    rate = np.clip(dot(weights, x) / max(dot(weights, n), 1.0), 0.05, 0.95)
    return np.array([rate * 2.0, (1 - rate) * 2.0, 1.0, 3.0])


# ----- predictions -----------------------------------------------------------------------
def _log_alive_through(params, x, n, extra):
    """ln of B(alpha+x, beta+n-x)/B(alpha, beta) B(gamma, delta+n+extra)/B(gamma, delta):
    the joint weight of the history and of being alive at opportunity n + extra."""
    alpha, beta, gamma, delta = params
    return (
        special.betaln(alpha + x, beta + n - x) - special.betaln(alpha, beta)
        + special.betaln(gamma, delta + n + extra) - special.betaln(gamma, delta)
    )


def probability_alive(params, x, t_x, n):
    """P(alive at opportunity n + 1 | x, t_x, n) (FHS 2010, appendix).

    = B(alpha+x, beta+n-x)/B(alpha, beta) B(gamma, delta+n+1)/B(gamma, delta) / L:
    the probability that the customer is still active at the start of the next
    period. For the donations data (n = 6) these are the paper's "P(alive in 2001)"
    values, 0.11, 0.59 and 0.93 for (x, t_x) = (0, 0), (2, 4), (6, 6) (REFERENCE.md;
    lifetimes' ``conditional_probability_alive`` with ``m_periods_in_future=1``).
    """
    values = tuple(_unpack(params))

    def formula(x, t_x, n):
        return np.exp(_log_alive_through(values, x, n, 1.0) - _log_likelihood_distinct(values, x, t_x, n))

    return _per_history(formula, x, t_x, n)


def _alive_sum(gamma, delta, start, m):
    """sum_{k=1}^{m} B(gamma, delta + start + k) / B(gamma, delta), in closed form.

    Telescoping B(g, y) = B(g - 1, y) - B(g - 1, y + 1) gives
    Gamma(gamma + delta) / (Gamma(delta) (gamma - 1)) [R(y1) - R(y2)] with
    R(y) = Gamma(y) / Gamma(y + gamma - 1), y1 = delta + start + 1 and
    y2 = y1 + m (the closed form of FHS 2010 eq. 13). The difference is taken as R(y1) (1 - e^D)
    with expm1, and within 1e-5 of gamma = 1 (a removable singularity) from the
    second-order expansion of ln R in gamma - 1. Smooth in ``m``, so a fractional
    horizon interpolates.
    """
    h = gamma - 1.0
    y1 = delta + start + 1.0
    y2 = y1 + m
    if abs(h) < _GAMMA_NEAR_ONE:
        slope = (special.digamma(y2) - special.digamma(y1)) + h / 2 * (special.polygamma(1, y2) - special.polygamma(1, y1))
        log_r1 = -h * special.digamma(y1) - h**2 / 2 * special.polygamma(1, y1)
        difference_over_h = slope * special.exprel(-h * slope)
    else:
        log_r1 = special.gammaln(y1) - special.gammaln(y1 + h)
        log_r2 = special.gammaln(y2) - special.gammaln(y2 + h)
        difference_over_h = -np.expm1(log_r2 - log_r1) / h
    scale = special.gammaln(gamma + delta) - special.gammaln(delta)
    return np.exp(scale + log_r1) * difference_over_h


def expected_purchases(params, t, x, t_x, n, ticks_per_unit=None):
    """E[X(n, n + t) | x, t_x, n]: expected transactions in the next ``t`` periods
    (FHS 2010 eq. 13).

    = B(alpha+x+1, beta+n-x)/B(alpha, beta) / L(x, t_x, n)
      * sum_{k=1}^{t} B(gamma, delta+n+k)/B(gamma, delta).

    Parameters
    ----------
    params : mapping
        ``alpha``, ``beta``, ``gamma``, ``delta``.
    t : float or array-like
        Number of future periods (whole numbers are the model's horizons; a fraction
        interpolates smoothly); an array broadcasts against the customers.
    x, t_x, n : array-like
        Frequency, recency and number of opportunities of each customer.
    ticks_per_unit : ignored
        Accepted for the common signature of the transaction models.
    """
    values = tuple(_unpack(params))
    alpha, beta, gamma, delta = values
    t = check_times(t)

    def purchase_weight(x, t_x, n):
        return np.exp(
            special.betaln(alpha + x + 1, beta + n - x) - special.betaln(alpha, beta)
            - _log_likelihood_distinct(values, x, t_x, n)
        )

    weight = _per_history(purchase_weight, x, t_x, n)
    return weight * _alive_sum(gamma, delta, np.asarray(n, dtype=float), t)


def discounted_expected_residual_transactions(params, discount_rate, x, t_x, n):
    """DERT: sum_{k>=1} E[transaction at opportunity n + k | history] / (1 + d)^k
    (the DERT of FHS 2010).

    = B(alpha+x+1, beta+n-x)/B(alpha, beta) B(gamma, delta+n+1)/B(gamma, delta)
      / ((1 + d) L) * 2F1(1, delta+n+1; gamma+delta+n+1; 1/(1 + d)).

    ``discount_rate`` d is per period and must be > 0.
    """
    values = tuple(_unpack(params))
    alpha, beta, gamma, delta = values
    d = check_positive_number(discount_rate, "discount_rate")
    z = 1.0 / (1.0 + d)

    def formula(x, t_x, n):
        log_weight = (
            special.betaln(alpha + x + 1, beta + n - x) - special.betaln(alpha, beta)
            + special.betaln(gamma, delta + n + 1) - special.betaln(gamma, delta)
            - _log_likelihood_distinct(values, x, t_x, n)
        )
        return np.exp(log_weight) * z * hyp2f1(1.0, delta + n + 1, gamma + delta + n + 1, z)

    return _per_history(formula, x, t_x, n)


def expected_purchases_new_customer(params, t):
    """E[X(t)]: expected transactions of a new customer in her first ``t`` opportunities
    (FHS 2010): alpha / (alpha + beta) sum_{k=1}^{t} B(gamma, delta+k)/B(gamma, delta)."""
    alpha, beta, gamma, delta = _unpack(params)
    return alpha / (alpha + beta) * _alive_sum(gamma, delta, 0.0, check_times(t))


def _log_binomial(j, k):
    return special.gammaln(j + 1) - special.gammaln(k + 1) - special.gammaln(j - k + 1)


def _future_pmf_distinct(values, k, m, x, t_x, n):
    """P(X(n, n+m) = k | x, t_x, n) for distinct flat arrays (k, x, t_x, n), whole m."""
    alpha, beta, gamma, delta = values
    log_l = _log_likelihood_distinct(values, x, t_x, n)
    # Alive at n and then alive at every one of the m opportunities, buying at k of them.
    full = (
        _log_binomial(m, np.minimum(k, m))
        + special.betaln(alpha + x + k, beta + n - x + np.maximum(m - k, 0)) - special.betaln(alpha, beta)
        + special.betaln(gamma, delta + n + m) - special.betaln(gamma, delta)
    )
    total = np.where(k <= m, np.exp(full - log_l), 0.0)
    # Alive at n, alive through opportunity n + j (j = k .. m-1), then inactive.
    for j in range(int(m)):
        partial = (
            _log_binomial(j, np.minimum(k, j))
            + special.betaln(alpha + x + k, beta + n - x + np.maximum(j - k, 0)) - special.betaln(alpha, beta)
            + special.betaln(gamma + 1, delta + n + j) - special.betaln(gamma, delta)
        )
        total += np.where(k <= j, np.exp(partial - log_l), 0.0)
    # Inactive before opportunity n: no transaction in the future.
    log_alive_at_n = _log_alive_through(values, x, n, 0.0)
    dead = -np.expm1(np.minimum(log_alive_at_n - log_l, 0.0))
    return total + np.where(k == 0, dead, 0.0)


def conditional_probability_of_purchases(params, n_purchases, t, x, t_x, n):
    """P(X(n, n + t) = k | x, t_x, n): probability of exactly k transactions in the next
    ``t`` periods (whole) given the history.

    Posterior to the history, a customer alive at opportunity n with (p, theta)
    stays alive for J more opportunities (P(J = j) = theta (1 - theta)^j for j < t,
    (1 - theta)^t for j = t) and transacts Binomial(J, p) times; a customer already
    inactive makes none. Integrating over the posterior gives ratios of Beta
    functions as in FHS 2010 eq. 7, which is the case x = t_x = n = 0. The sum over
    j is a loop over the ``t`` future periods (not over customers).
    """
    values = tuple(_unpack(params))
    m = float(_whole(t, "t"))
    k = _whole(n_purchases, "n")
    k, x, t_x, n = np.broadcast_arrays(k, *_as_float(x, t_x, n))
    shape = k.shape
    distinct, index = distinct_with_inverse({"k": k.ravel(), "x": x.ravel(), "t_x": t_x.ravel(), "n": n.ravel()})
    result = _future_pmf_distinct(values, distinct["k"], m, distinct["x"], distinct["t_x"], distinct["n"])
    result = result[index].reshape(shape)
    return result if shape else float(result)


def probability_of_purchases(params, n, t):
    """P(X(t) = n) for a new customer over her first ``t`` opportunities (FHS 2010 eq. 7);
    ``n`` and ``t`` (whole numbers) broadcast."""
    n, t = np.broadcast_arrays(_whole(n, "n"), _whole(t, "t"))
    result = np.empty(n.shape)
    flat_n, flat_t, flat_result = n.ravel(), t.ravel(), result.reshape(-1)
    for horizon in np.unique(flat_t):
        chosen = flat_t == horizon
        flat_result[chosen] = conditional_probability_of_purchases(params, flat_n[chosen], horizon, 0.0, 0.0, 0.0)
    return result if result.ndim else float(result)


def sample(params, T, random_state=None):
    """Draw (frequency, recency, n_periods) histories from the BG/BB process.

    Parameters
    ----------
    params : mapping
        ``alpha``, ``beta``, ``gamma``, ``delta``.
    T : array-like
        Each customer's number of opportunities (whole periods).
    random_state : int or numpy.random.Generator, optional

    Returns
    -------
    pandas.DataFrame
        Columns frequency, recency, n_periods.
    """
    alpha, beta, gamma, delta = _unpack(params)
    rng = np.random.default_rng(random_state)
    n = _whole(T, "T").reshape(-1)
    p = rng.beta(alpha, beta, size=n.shape)
    theta = rng.beta(gamma, delta, size=n.shape)
    # Alive at opportunities 1 .. G - 1, G ~ Geometric(theta) the first opportunity missed.
    alive_through = np.minimum(rng.geometric(np.clip(theta, 1e-300, 1.0)) - 1, n)
    frequency = np.zeros(n.shape)
    recency = np.zeros(n.shape)
    for opportunity in range(1, int(n.max(initial=0)) + 1):  # a loop over periods, vectorised over customers
        buys = (alive_through >= opportunity) & (rng.random(n.shape) < p)
        frequency += buys
        recency[buys] = opportunity
    return pd.DataFrame({"frequency": frequency, "recency": recency, "n_periods": n})


def sample_future_purchases(params, period_ends, x, t_x, n, random_state=None):
    """Draw each customer's transactions in consecutive future periods given the history.

    Alive at opportunity n with probability B(alpha+x, beta+n-x) B(gamma, delta+n) /
    (B(alpha, beta) B(gamma, delta) L); if so, p ~ Beta(alpha + x, beta + n - x) and
    theta ~ Beta(gamma, delta + n) (the posterior given alive), she stays alive for
    G - 1 more opportunities, G ~ Geometric(theta), and transacts Binomial(alive
    opportunities, p) times in each period.

    Parameters
    ----------
    params : mapping
    period_ends : array-like
        Increasing ends of the periods, in opportunities after n (a period holds the
        opportunities n + k with k in (previous end, end]).
    x, t_x, n : ndarray

    Returns
    -------
    ndarray of int64, shape (customers, periods)
    """
    values = tuple(_unpack(params))
    alpha, beta, gamma, delta = values
    rng = np.random.default_rng(random_state)
    x, t_x, n = (np.asarray(v, dtype=float).reshape(-1) for v in (x, t_x, n))
    ends = np.floor(np.asarray(period_ends, dtype=float).reshape(-1))
    alive_at_n = _per_history(
        lambda x, t_x, n: np.exp(_log_alive_through(values, x, n, 0.0) - _log_likelihood_distinct(values, x, t_x, n)),
        x, t_x, n,
    )
    alive = rng.random(len(x)) < alive_at_n
    p = rng.beta(alpha + x, beta + n - x)
    theta = np.clip(rng.beta(gamma, delta + n), 1e-300, 1.0)
    lasts = np.where(alive, rng.geometric(theta) - 1, 0).astype(float)  # opportunities still alive
    counts = np.zeros((len(x), len(ends)), dtype=np.int64)
    previous = 0.0
    for j, end in enumerate(ends):  # a loop over periods, vectorised over customers
        opportunities = np.clip(np.minimum(lasts, end) - previous, 0, None).astype(np.int64)
        counts[:, j] = rng.binomial(opportunities, p)
        previous = end
    return counts


def mixing_distributions(params):
    """Transaction probability p ~ Beta(alpha, beta) and dropout probability
    theta ~ Beta(gamma, delta) across customers (FHS 2010 section 2)."""
    from scipy import stats

    alpha, beta, gamma, delta = _unpack(params)
    return {
        "purchase": Mixing(stats.beta(alpha, beta), f"Beta(α = {alpha:.3g}, β = {beta:.3g})",
                           "probability of a transaction at each opportunity while alive, p", bounded=True),
        "dropout": Mixing(stats.beta(gamma, delta), f"Beta(γ = {gamma:.3g}, δ = {delta:.3g})",
                          "probability of becoming inactive before each opportunity, θ", bounded=True),
    }


def scale_dropout(params, factor):
    """Parameters whose mean dropout probability gamma / (gamma + delta) is ``factor``
    times as large, with gamma + delta (the concentration of theta) held fixed."""
    alpha, beta, gamma, delta = _unpack(params)
    concentration = gamma + delta
    new_gamma = factor * gamma
    if new_gamma >= concentration:
        raise ValueError(
            f"a dropout factor of {factor:g} would make the mean dropout probability "
            f"{factor * gamma / concentration:.3g} >= 1"
        )
    return {"alpha": alpha, "beta": beta, "gamma": new_gamma, "delta": concentration - new_gamma}


class BetaGeoBetaBinomModel(TransactionModel):
    """BG/BB model of discrete-time repeat transactions (Fader, Hardie & Shang 2010).

    One transaction opportunity per period; while alive a customer transacts with
    probability p ~ Beta(alpha, beta) at each, and becomes inactive before each with
    probability theta ~ Beta(gamma, delta). Fits tables with ``frequency``,
    ``recency`` and ``n_periods`` in whole periods, e.g. from
    :func:`clvmodels.discrete_rfm_summary`; the time unit is the period.

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty on the parameters; 0 gives the maximum-likelihood estimate.
    max_iter : int, default 2000
        Iteration budget of each optimiser tried.

    Attributes
    ----------
    params_ : pandas.Series
        ``alpha``, ``beta``, ``gamma``, ``delta``.
    log_likelihood_ : float
        Total log-likelihood of the fitted data.

    Examples
    --------
    >>> import clvmodels as clv
    >>> donations = clv.datasets.load_donations()
    >>> bgbb = clv.BetaGeoBetaBinomModel().fit(donations, sample_weight="weight")
    >>> bgbb.params_.round(3).to_dict()
    {'alpha': 1.204, 'beta': 0.75, 'gamma': 0.657, 'delta': 2.783}
    """

    key = "bgbb"
    title = "BG/BB"
    reference = "Fader, Hardie & Shang (2010), Marketing Science 29(6)"
    param_names = ("alpha", "beta", "gamma", "delta")
    rfm_columns = ("frequency", "recency", "n_periods")
    time_params = ()
    time_columns = ()
    length_column = "n_periods"
    param_descriptions = {
        "alpha": "transaction probability p: first shape of its Beta distribution",
        "beta": "transaction probability p: second shape of its Beta distribution",
        "gamma": "dropout probability theta: first shape of its Beta distribution",
        "delta": "dropout probability theta: second shape of its Beta distribution",
    }
    example_params = {"alpha": 1.2, "beta": 0.75, "gamma": 0.66, "delta": 2.8}
    formulas = sys.modules[__name__]  # this module's functions (see clvmodels._families)

    def discounted_expected_residual_transactions(self, data, discount_rate):
        """DERT: each customer's expected future transactions, opportunity n + k
        discounted by (1 + discount_rate)^k, over an unlimited horizon (FHS 2010's DERT).

        Parameters
        ----------
        data : pandas.DataFrame
            frequency, recency, n_periods (whole periods).
        discount_rate : float
            Discount rate per period, > 0.

        Returns
        -------
        pandas.Series
            On ``data.index``, in transactions (multiply by a value per transaction).
        """
        history = self._history(data)
        values = discounted_expected_residual_transactions(self.params_, discount_rate, *history)
        return self._finite_series(values, data, "dert")
