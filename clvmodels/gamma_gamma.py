"""Gamma-Gamma: the spend model of repeat buyers.

Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005), "RFM and CLV: using iso-value
curves for customer base analysis", Journal of Marketing Research 42(4), 415-430,
and Hardie's note "The Gamma-Gamma model of monetary value" (2013). Each purchase's
amount is Gamma(p, nu) with nu ~ Gamma(q, gamma) across customers; the parameter
``gamma`` is called ``v`` here, as in lifetimes. Only customers with at least one
repeat purchase carry information (``frequency`` > 0, ``monetary_value`` = mean spend
of the repeat purchases).
"""

import sys
import warnings

import numpy as np
from scipy import special

from ._arrays import dot, unique_inverse
from ._families import SpendModel
from ._special import digamma_difference, log_pochhammer
from .exceptions import ModelWarning


def _unpack(params):
    return (float(params[k]) for k in ("p", "q", "v"))


def log_likelihood(params, x, m):
    """Log density of each customer's mean spend ``m`` over ``x`` repeat purchases.

    ln f = ln G(px+q) - ln G(px) - ln G(q) + q ln v + (px-1) ln m + px ln x - (px+q) ln(v + x m)
    (Hardie 2013, eq. 4, for the mean of x purchases; customers with x = 0 carry no
    information and get -inf).
    """
    p, q, v = _unpack(params)
    x, m = np.asarray(x, dtype=float), np.asarray(m, dtype=float)
    # ln G(px+q) - ln G(q) and q ln(v / (v + xm)) written without cancellation, so the
    # likelihood stays accurate as q and v run off together (no spend heterogeneity).
    with np.errstate(divide="ignore", invalid="ignore"):
        return (
            log_pochhammer(q, p * x) - special.gammaln(p * x) - q * np.log1p(x * m / v)
            + (p * x - 1) * np.log(m) + p * x * np.log(x) - p * x * np.log(v + x * m)
        )


def fit_rows(columns):
    """Only repeat buyers with a positive mean spend carry information."""
    return (columns["frequency"] > 0) & (columns["monetary_value"] > 0)


def prepare(columns, weights):
    x, m = columns["frequency"], columns["monetary_value"]
    x_unique, x_index = unique_inverse(x)
    log_m, log_x = np.log(m), np.log(x)
    return {
        "x": x, "xm": x * m, "w": weights, "wx": weights * x, "w_sum": weights.sum(),
        "x_unique": x_unique, "w_per_x": np.bincount(x_index, weights=weights, minlength=len(x_unique)),
        # Sums that do not depend on the parameters.
        "sum_wx_log_mx": dot(weights * x, log_m + log_x), "sum_w_log_m": dot(weights, log_m),
    }


def derivatives(params, data, order):
    """Weighted total of Hardie (2013) eq. 4 and its gradient and Hessian w.r.t. (p, q, v)."""
    p, q, v = params
    xu, wu, w, wx = data["x_unique"], data["w_per_x"], data["w"], data["wx"]
    log_v_xm = np.log(v + data["xm"])
    w_sum = data["w_sum"]
    # Written to stay accurate for huge q and v (see log_likelihood).
    xm_share = data["xm"] / (v * (v + data["xm"]))  # 1/v - 1/(v + xm)
    log_share = np.log1p(data["xm"] / v)  # ln((v + xm) / v)
    ll = (
        dot(wu, log_pochhammer(q, p * xu) - special.gammaln(p * xu)) - q * dot(w, log_share)
        + p * data["sum_wx_log_mx"] - data["sum_w_log_m"] - p * dot(wx, log_v_xm)
    )
    if order == 0:
        return ll, None, None
    psi_pq, psi_p = special.digamma(p * xu + q), special.digamma(p * xu)
    inv_v_xm = 1.0 / (v + data["xm"])
    d_p = dot(wu * xu, psi_pq - psi_p) + data["sum_wx_log_mx"] - dot(wx, log_v_xm)
    d_q = dot(wu, digamma_difference(q, p * xu)) - dot(w, log_share)
    d_v = q * dot(w, xm_share) - p * dot(wx, inv_v_xm)
    grad = np.array([d_p, d_q, d_v])
    if order == 1:
        return ll, grad, None
    tri_pq, tri_p = special.polygamma(1, p * xu + q), special.polygamma(1, p * xu)
    h_pq = dot(wu * xu, tri_pq)
    h_pv = -dot(wx, inv_v_xm)
    h_qv = dot(w, xm_share)
    hess = np.array([
        [dot(wu * xu**2, tri_pq - tri_p), h_pq, h_pv],
        [h_pq, dot(wu, tri_pq) - w_sum * special.polygamma(1, q), h_qv],
        [h_pv, h_qv, -q * dot(w, xm_share * (1.0 / v + inv_v_xm)) + p * dot(wx, inv_v_xm**2)],
    ])
    return ll, grad, hess


def expected_spend(params, x, m):
    """E[M | x, m]: expected spend per purchase given x purchases averaging m.

    FHL 2005 ("RFM and CLV"), eq. 5: p (v + x m) / (p x + q - 1), a weighted average of
    the population mean p v / (q - 1) and the customer's own mean. Customers with no
    repeat purchase (x = 0) get the population mean. Needs q > 1.
    """
    p, q, v = _unpack(params)
    if q <= 1:
        raise ValueError(
            f"Gamma-Gamma q = {q:.4g} <= 1: the mean spend per purchase is undefined "
            "(infinite) for such parameters, so expected spend cannot be computed"
        )
    x, m = np.asarray(x, dtype=float), np.asarray(m, dtype=float)
    return p * (v + x * m) / (p * x + q - 1)


def population_mean_spend(params):
    """Mean spend per purchase across all customers, p v / (q - 1)."""
    return expected_spend(params, 0.0, 0.0)


def sample(params, x, random_state=None):
    """Draw each customer's mean spend over ``x`` purchases from the Gamma-Gamma process."""
    p, q, v = _unpack(params)
    rng = np.random.default_rng(random_state)
    x = np.asarray(x, dtype=float)
    rate = rng.gamma(q, 1 / v, size=x.shape)
    total = rng.gamma(np.maximum(p * x, 1e-300), 1 / rate)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(x > 0, total / x, 0.0)


def sample_future_spend(params, counts, x, m, random_state=None):
    """Draw the total spend of ``counts`` future purchases given each spend history.

    The customer's spend scale nu has the posterior Gamma(q + p x, v + x m) (shape,
    rate); the sum of N purchases is then Gamma(p N, nu). Only entries with purchases
    get a spend draw.

    Parameters
    ----------
    counts : ndarray, shape (customers, periods)
        Purchases per future period.
    x, m : ndarray
        Repeat purchases and their mean spend (0 for none).

    Returns
    -------
    ndarray of the same shape as ``counts``
    """
    p, q, v = _unpack(params)
    rng = np.random.default_rng(random_state)
    x, m = np.asarray(x, dtype=float), np.asarray(m, dtype=float)
    counts = np.asarray(counts)
    spend = np.zeros(counts.shape)
    customers, periods = np.nonzero(counts)
    if customers.size:
        rate = rng.gamma(q + p * x, 1.0 / (v + x * m))
        spend[customers, periods] = rng.gamma(p * counts[customers, periods]) / rate[customers]
    return spend


class GammaGammaModel(SpendModel):
    """Gamma-Gamma model of spend per purchase (Fader, Hardie & Lee 2005, "RFM and CLV").

    Fitted on the customers with ``frequency`` > 0; others are ignored by ``fit`` and
    receive the population mean from :meth:`expected_spend`.

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty on the parameters; 0 gives the maximum-likelihood estimate.
    max_iter : int, default 2000
        Iteration budget of each optimiser tried.

    Attributes
    ----------
    params_ : pandas.Series
        ``p``, ``q``, ``v`` (``v`` is the paper's gamma, in money units).

    Examples
    --------
    >>> import clvmodels as clv
    >>> tx = clv.datasets.load_cdnow(sample=True)
    >>> rfm = clv.rfm_summary(tx, amount_col="amount", time_unit="W", observation_end="1997-09-30")
    >>> gg = clv.GammaGammaModel().fit(rfm)
    >>> gg.params_.round(2).to_dict()
    {'p': 6.25, 'q': 3.74, 'v': 15.44}
    """

    key = "gg"
    title = "Gamma-Gamma"
    reference = "Fader, Hardie & Lee (2005), Journal of Marketing Research 42(4)"
    param_names = ("p", "q", "v")
    rfm_columns = ("frequency", "monetary_value")
    param_descriptions = {
        "p": "shape of the spend of each purchase (Gamma)",
        "q": "shape of the distribution of customers' spend scales (Gamma)",
        "v": "scale of the distribution of customers' spend scales (money units)",
    }
    example_params = {"p": 6.0, "q": 4.0, "v": 15.0}
    fit_rows_label = "repeat buyers with a positive monetary_value"
    formulas = sys.modules[__name__]  # this module's functions (see clvmodels._families)

    def _check_params(self):
        if self.params_["q"] <= 1:
            warnings.warn(
                f"GammaGammaModel: fitted q = {self.params_['q']:.4g} <= 1, so the mean spend "
                "per purchase is infinite and expected_spend will refuse to run; the spend "
                "data may be dominated by a few very large amounts",
                ModelWarning,
                stacklevel=3,
            )
