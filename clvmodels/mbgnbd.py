"""MBG/NBD: the modified beta-geometric / negative binomial model of repeat purchasing.

Batislam, E. P., Denizel, M. and Filiztekin, A. (2007), "Empirical validation and
comparison of models for customer base analysis", International Journal of Research
in Marketing 24(3), 201-209 (BDF 2007 below); also Hoppe & Wagner (2007), "Customer
base analysis: the case for a central variant of the Betageometric/NBD model".

As in BG/NBD (Fader, Hardie & Lee 2005, FHL 2005 below), a customer buys at Poisson
rate lambda ~ Gamma(r, alpha) while alive and drops out with probability
p ~ Beta(a, b) after each repeat purchase; MBG/NBD adds a dropout opportunity right
after the first purchase (time 0), so a customer without repeat purchases may have
dropped out too. A customer with x repeat purchases has survived x + 1 opportunities
instead of x, so, writing B for the beta function,

    L_MBG(r, alpha, a, b | x, t_x, T) = (b / (a + b)) L'(r, alpha, a, b + 1 | x, t_x, T)

with L' FHL 2005's eq. 6 with the dropout term for every customer, x = 0 included
(B(a, b + 1) = B(a, b) b / (a + b): surviving time 0, after which p ~ Beta(a, b + 1)).
Every formula here is therefore BG/NBD's (:mod:`clvmodels.bgnbd`) at b + 1 with
P(alive) of eq. 11 for every customer. Parameters ``r``, ``alpha`` (in the data's
time unit), ``a``, ``b``; columns frequency ``x``, recency ``t_x`` and age ``T``.
"""

import sys

import numpy as np

from . import bgnbd
from ._families import TransactionModel, _checked_n
from .bgnbd import _unpack, mixing_distributions, scale_dropout  # noqa: F401 (formulas of this model too)
from ._validation import check_times


def _as_float(*columns):
    return (np.asarray(v, dtype=float) for v in columns)


def log_likelihood(params, x, t_x, T):
    """Log-likelihood of each customer's (x, t_x, T) (BDF 2007), in log space.

    ln L = ln G(r+x) - ln G(r) + r ln alpha + ln B(a, b+x+1) - ln B(a, b) - (r+x) ln(alpha+T)
           + ln(1 + (a / (b+x)) ((alpha+T)/(alpha+t_x))^(r+x)),

    the last term for every customer (those without repeat purchases may have
    dropped out at time 0).

    Returns
    -------
    ndarray
    """
    r, alpha, a, b = _unpack(params)
    x, t_x, T = _as_float(x, t_x, T)
    log_odds = bgnbd._log_odds_dead(r, alpha, a, b + 1, x, t_x, T)
    return bgnbd._log_likelihood(r, alpha, a, b + 1, x, T, log_odds) + np.log(b / (a + b))


def prepare(columns, weights):
    """Rows for :func:`derivatives`: BG/NBD's, with the dropout term on every row."""
    return bgnbd._prepare_rows(columns, weights, np.ones(len(weights), dtype=bool))


def derivatives(params, data, order):
    """Weighted total log-likelihood and its gradient and Hessian w.r.t. (r, alpha, a, b).

    BG/NBD's analytic derivatives at b + 1 (d(b + 1)/db = 1), plus those of the
    constant n ln(b / (a + b)).
    """
    r, alpha, a, b = params
    ll, grad, hess = bgnbd.derivatives((r, alpha, a, b + 1), data, order)
    n = data["w_sum"]
    ll += n * np.log(b / (a + b))
    if order == 0:
        return ll, None, None
    grad = grad + np.array([0.0, 0.0, -n / (a + b), n * a / (b * (a + b))])
    if order == 1:
        return ll, grad, None
    curvature = n / (a + b) ** 2
    hess = hess + np.array([
        [0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, curvature, curvature],
        [0.0, 0.0, curvature, curvature - n / b**2],
    ])
    return ll, grad, hess


def probability_alive(params, x, t_x, T):
    """P(alive at T | x, t_x, T) = 1 / (1 + (a / (b+x)) ((alpha+T)/(alpha+t_x))^(r+x))
    (BDF 2007), below 1 for customers without repeat purchases too."""
    r, alpha, a, b = _unpack(params)
    return bgnbd._probability_alive(r, alpha, a, b + 1, x, t_x, T, alive_without_repeat=False)


def expected_purchases(params, t, x, t_x, T, ticks_per_unit=None):
    """E[X(T, T + t) | x, t_x, T]: expected purchases in the next ``t`` time units.

    P(alive) times (a+b+x)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x)
    2F1(r+x, b+x+1; a+b+x; t/(alpha+T+t))], FHL 2005 eq. 10 at b + 1 (Hoppe & Wagner
    2007), with its hypergeometric term Euler-transformed so heavy buyers stay finite.
    ``t`` in the unit of ``alpha``; ``ticks_per_unit`` as in
    :func:`clvmodels.bgnbd.expected_purchases`.
    """
    r, alpha, a, b = _unpack(params)
    x, t_x, T = _as_float(x, t_x, T)
    return bgnbd._expected_if_alive(r, alpha, a, b + 1, t, x, T, ticks_per_unit) * probability_alive(params, x, t_x, T)


def discounted_expected_purchases(params, times, discounts, x, t_x, T, ticks_per_unit=None):
    """sum_k discounts[k] (E[X(times[k])] - E[X(times[k-1])]), with E[X(0)] = 0, per
    customer: the discounted purchases behind CLV (see :func:`expected_purchases`)."""
    r, alpha, a, b = _unpack(params)
    x, t_x, T = _as_float(x, t_x, T)
    discounted = bgnbd._discounted_if_alive(r, alpha, a, b + 1, times, discounts, x, T, ticks_per_unit)
    return discounted * probability_alive(params, x, t_x, T)


def expected_purchases_new_customer(params, t):
    """E[X(t)] = b/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b+1; a+b; t/(alpha+t))] for a
    customer just acquired (BDF 2007): FHL 2005 eq. 9 at b + 1 times P(surviving time 0)
    = b / (a + b); ``t`` in the model's time unit."""
    r, alpha, a, b = _unpack(params)
    return b / (a + b) * bgnbd._expected_new(r, alpha, a, b + 1, check_times(t))


def conditional_probability_of_purchases(params, n, t, x, t_x, T):
    """P(X(T, T + t) = n | x, t_x, T), ``n`` broadcasting against the customers.

    A customer alive at T has lambda ~ Gamma(r + x, alpha + T) and p ~ Beta(a, b + x + 1)
    and her next dropout opportunity is after her next purchase, so this is BG/NBD's
    conditional PMF (Fader, Hardie & Lee 2006 note) at b + 1, weighted by this model's
    P(alive); a customer who has dropped out makes none.
    """
    r, alpha, a, b = _unpack(params)
    x, t_x, T = _as_float(x, t_x, T)
    return bgnbd._pmf_given_alive(r, alpha, a, b + 1, n, t, x, T, probability_alive(params, x, t_x, T))


def survival_if_alive(params, t, floor, x, T):
    """P(X(T, T + t) > k | alive at T, x, T) for k = 0, 1, ...: BG/NBD's
    (:func:`clvmodels.bgnbd.survival_if_alive`) at b + 1, as for the conditional PMF."""
    r, alpha, a, b = _unpack(params)
    return bgnbd.survival_table(bgnbd._TailRecurrence(r, alpha, a, b + 1, t, x, T), floor)


def probability_of_purchases(params, n, t):
    """P(X(t) = n) for a customer just acquired (BDF 2007): the conditional PMF with
    no history, which starts alive with probability b / (a + b)."""
    return conditional_probability_of_purchases(params, _checked_n(n), check_times(t), 0.0, 0.0, 0.0)


def sample_future_purchases(params, period_ends, x, t_x, T, random_state=None):
    """Draw each customer's purchases in consecutive future periods (ends in
    ``period_ends``, model time unit after T) given the history: alive with this
    model's P(alive), then BG/NBD's process with p ~ Beta(a, b + x + 1).

    Returns
    -------
    ndarray of int64, shape (customers, periods)
    """
    r, alpha, a, b = _unpack(params)
    x, t_x, T = _as_float(x, t_x, T)
    alive = probability_alive(params, x, t_x, T)
    return bgnbd._sample_future_given_alive(r, alpha, a, b + 1, period_ends, x, T, alive, random_state)


def sample_future_buyers(params, period_ends, x, t_x, T, random_state=None):
    """:func:`sample_future_purchases` for the customers who buy: their positions and
    purchases per period (see :func:`clvmodels.bgnbd.sample_future_buyers`)."""
    r, alpha, a, b = _unpack(params)
    x, t_x, T = _as_float(x, t_x, T)
    alive = probability_alive(params, x, t_x, T)
    return bgnbd._future_buyers_given_alive(r, alpha, a, b + 1, period_ends, x, T, alive, random_state)


def sample(params, T, random_state=None):
    """Draw (frequency, recency, T) histories from the MBG/NBD process: BG/NBD's, with a
    dropout opportunity right after the first purchase.

    Parameters
    ----------
    params : mapping
        ``r``, ``alpha``, ``a``, ``b``.
    T : array-like
        Observation lengths, in the unit of ``alpha``.
    random_state : int or numpy.random.Generator, optional

    Returns
    -------
    pandas.DataFrame
        Columns frequency, recency, T (continuous times).
    """
    return bgnbd._draw_histories(*_unpack(params), T, random_state, dropout_at_start=True)


class ModifiedBetaGeoModel(TransactionModel):
    """MBG/NBD model of repeat purchasing (Batislam, Denizel & Filiztekin 2007).

    BG/NBD (purchase rate lambda ~ Gamma(r, alpha) while alive, dropout with
    probability p ~ Beta(a, b) after each repeat purchase) where a customer may also
    drop out right after her first purchase, so one who never bought again is not
    assumed alive. Settings (``penalizer``, ``max_iter``) and fitted attributes
    (``params_``: ``r``, ``alpha`` in the data's time unit, ``a``, ``b``) as
    :class:`clvmodels.BetaGeoModel`.

    Examples
    --------
    >>> import clvmodels as clv
    >>> tx = clv.datasets.load_cdnow(sample=True)
    >>> rfm = clv.rfm_summary(tx, time_unit="W", observation_end="1997-09-30")
    >>> mbg = clv.ModifiedBetaGeoModel().fit(rfm)
    >>> mbg.params_.round(3).to_dict()
    {'r': 0.525, 'alpha': 6.183, 'a': 0.891, 'b': 1.614}
    """

    key = "mbgnbd"
    title = "MBG/NBD"
    reference = "Batislam, Denizel & Filiztekin (2007), International Journal of Research in Marketing 24(3)"
    param_names = ("r", "alpha", "a", "b")
    rfm_columns = ("frequency", "recency", "T")
    time_params = ("alpha",)
    time_columns = ("recency", "T")
    param_descriptions = {
        "r": "shape of the purchase-rate distribution (Gamma)",
        "alpha": "scale of the purchase-rate distribution (Gamma rate)",
        "a": "dropout (at the first purchase and after each repeat): first shape of the Beta distribution of p",
        "b": "dropout (at the first purchase and after each repeat): second shape of the Beta distribution of p",
    }
    example_params = {"r": 0.5, "alpha": 6.0, "a": 0.9, "b": 1.6}
    alive_state_columns = ("frequency", "T")  # given alive at T, the future depends on x and T only
    formulas = sys.modules[__name__]  # this module's functions (see clvmodels._families)
