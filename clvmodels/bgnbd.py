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

import numpy as np
from scipy import special, stats

from ._base import BaseModel, unique_inverse
from ._special import hyp2f1
from ._validation import check_positive_number, check_times


def _unpack(params):
    return (float(params[k]) for k in ("r", "alpha", "a", "b"))


def _log_odds_dead(r, alpha, a, b, x, t_x, T):
    """log[(a / (b + x - 1)) ((alpha + T) / (alpha + t_x))^(r + x)] for x > 0 (FHL 2005 eq. 6)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (
            np.log(a)
            - np.log(np.maximum(b + x - 1, np.finfo(float).tiny))
            + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
        )


def log_likelihood(params, x, t_x, T):
    """Log-likelihood of each customer's (x, t_x, T) (FHL 2005 eq. 6), in log space.

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
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    ll, _ = _loglik_and_grad(np.array(list(_unpack(params))), _prepare(x, t_x, T))
    return ll


def _prepare(x, t_x, T):
    x_unique, x_index = unique_inverse(x)
    return {"x": x, "t_x": t_x, "T": T, "x_unique": x_unique, "x_index": x_index, "repeat": x > 0}


def _loglik_and_grad(params, data):
    """Per-row log-likelihood (FHL 2005 eq. 6) and its gradient w.r.t. (r, alpha, a, b).

    ln L = ln G(r+x) - ln G(r) + r ln alpha + ln B(a, b+x) - ln B(a, b) - (r+x) ln(alpha+T)
           + ln(1 + [x>0] (a / (b+x-1)) ((alpha+T)/(alpha+t_x))^(r+x)).
    Gamma and digamma functions are evaluated once per distinct frequency.
    """
    r, alpha, a, b = params
    x, t_x, T, repeat = data["x"], data["t_x"], data["T"], data["repeat"]
    xu, idx = data["x_unique"], data["x_index"]

    lgamma_part = (
        special.gammaln(r + xu) - special.gammaln(r)
        + special.gammaln(a + b) + special.gammaln(b + xu) - special.gammaln(b) - special.gammaln(a + b + xu)
    )[idx]
    log_alpha_T = np.log(alpha + T)
    log_odds = np.where(repeat, _log_odds_dead(r, alpha, a, b, x, t_x, T), -np.inf)
    ll = lgamma_part + r * np.log(alpha) - (r + x) * log_alpha_T + np.logaddexp(0.0, log_odds)

    # Share of the likelihood coming from "died after the last purchase".
    w = special.expit(log_odds)
    d_r = (special.digamma(r + xu) - special.digamma(r))[idx] + np.log(alpha) - log_alpha_T
    d_r = d_r + w * (log_alpha_T - np.log(alpha + t_x))
    d_alpha = r / alpha - (r + x) / (alpha + T) + w * (r + x) * (1 / (alpha + T) - 1 / (alpha + t_x))
    d_a = (special.digamma(a + b) - special.digamma(a + b + xu))[idx] + w / a
    b_terms = (special.digamma(a + b) + special.digamma(b + xu) - special.digamma(b) - special.digamma(a + b + xu))[idx]
    with np.errstate(divide="ignore", invalid="ignore"):
        d_b = b_terms - np.where(repeat, w / (b + x - 1), 0.0)
    return ll, np.column_stack([d_r, d_alpha, d_a, d_b])


def probability_alive(params, x, t_x, T):
    """P(alive at T | x, t_x, T) (FHL 2005 eq. 11); 1 for customers with no repeat purchase."""
    r, alpha, a, b = _unpack(params)
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    return np.where(x > 0, special.expit(-_log_odds_dead(r, alpha, a, b, x, t_x, T)), 1.0)


_A_NEAR_ONE = 1e-4


def _removable_at_a_equal_1(formula, a):
    """Evaluate ``formula(a)``, which has the factor 1 / (a - 1) of FHL 2005 eqs. 9-10.

    The expression has a finite limit at a = 1, but evaluating it there divides 0 by 0
    and near it loses digits to cancellation; within 1e-4 of 1 it is interpolated
    linearly between a = 1 -+ 1e-4 (error of order 1e-8).
    """
    if abs(a - 1) >= _A_NEAR_ONE:
        return formula(a)
    below, above = formula(1 - _A_NEAR_ONE), formula(1 + _A_NEAR_ONE)
    return below + (a - 1 + _A_NEAR_ONE) / (2 * _A_NEAR_ONE) * (above - below)


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


def expected_purchases(params, t, x, t_x, T):
    """E[X(T, T + t) | x, t_x, T]: expected purchases in the next ``t`` time units (FHL 2005 eq. 10).

    The product ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z) of eq. 10 over-
    and underflows for heavy buyers; Euler's transformation turns it into
    (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z), which stays near 1, so predictions stay
    finite for any frequency.
    """
    r, alpha, a, b = _unpack(params)
    t = check_times(t)
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    log_one_minus_z = np.log(alpha + T) - np.log(alpha + T + t)
    z = -np.expm1(log_one_minus_z)

    def formula(a):
        c = a + b + x - 1
        tail = np.exp((a - 1) * log_one_minus_z) * hyp2f1(a + b - 1 - r, a - 1, c, z)
        return c / (a - 1) * (1 - tail)

    unconditional = _removable_at_a_equal_1(formula, a)
    alive = np.where(x > 0, special.expit(-_log_odds_dead(r, alpha, a, b, x, t_x, T)), 1.0)
    return unconditional * alive


def probability_of_purchases(params, n, t):
    """P(X(t) = n) for a customer just acquired (FHL 2005 eq. 8).

    The sum over j < n in eq. 8 is a negative-binomial distribution function.
    """
    r, alpha, a, b = _unpack(params)
    n = np.asarray(n, dtype=float)
    t = check_times(t)
    if np.any((n < 0) | (n != np.round(n))):
        raise ValueError("n must be a whole number >= 0")
    p_nb = alpha / (alpha + t)
    log_beta_ratio = special.betaln(a, b + n) - special.betaln(a, b)
    log_nb = stats.nbinom.logpmf(n, r, p_nb)
    still_buying = np.exp(log_beta_ratio + log_nb)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_dropout_weight = special.betaln(a + 1, b + n - 1) - special.betaln(a, b)
        dropped = np.where(n > 0, np.exp(log_dropout_weight) * stats.nbinom.sf(n - 1, r, p_nb), 0.0)
    return still_buying + dropped


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


class BetaGeoModel(BaseModel):
    """BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005).

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

    param_names = ("r", "alpha", "a", "b")
    rfm_columns = ("frequency", "recency", "T")
    time_params = ("alpha",)
    time_columns = ("recency", "T")

    def _start_params(self, columns, weights):
        return np.array([1.0, 1.0, 1.0, 1.0])

    def _prepare(self, columns):
        return _prepare(columns["frequency"], columns["recency"], columns["T"])

    @staticmethod
    def _loglik_and_grad(params, prepared):
        return _loglik_and_grad(params, prepared)

    def _history(self, data):
        arrays = self._rfm(data, self.rfm_columns)
        return arrays["frequency"], arrays["recency"], arrays["T"]

    def expected_purchases(self, data, t):
        """Expected purchases in the next ``t`` time units, given each customer's history.

        FHL 2005 eq. 10. ``t`` is in the model's time unit (``time_unit_``).

        Returns
        -------
        pandas.Series
            On ``data.index``.
        """
        history = self._history(data)
        t = check_positive_number(t, "t", allow_zero=True)
        return self._series(expected_purchases(self.params_, t, *history), data, "expected_purchases")

    def probability_alive(self, data):
        """Probability that each customer is still active at the end of observation (FHL 2005 eq. 11)."""
        history = self._history(data)
        return self._series(probability_alive(self.params_, *history), data, "probability_alive")

    def probability_of_purchases(self, n, t):
        """P(X(t) = n): probability that a new customer makes ``n`` repeat purchases in ``t`` (FHL 2005 eq. 8)."""
        self._check_fitted()
        result = probability_of_purchases(self.params_, n, t)
        return float(result) if np.ndim(result) == 0 else result

    def expected_purchases_new_customer(self, t):
        """Expected repeat purchases of a new customer by time ``t`` (FHL 2005 eq. 9)."""
        self._check_fitted()
        result = expected_purchases_new_customer(self.params_, t)
        return float(result) if np.ndim(result) == 0 else result

    def log_likelihood(self, data):
        """Per-customer log-likelihood of ``data`` at the fitted parameters (FHL 2005 eq. 6)."""
        history = self._history(data)
        return self._series(log_likelihood(self.params_, *history), data, "log_likelihood")

    def sample(self, T, random_state=None):
        """Simulate customer histories of lengths ``T`` from the fitted model."""
        self._check_fitted()
        return sample(self.params_, T, random_state)
