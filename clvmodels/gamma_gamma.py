"""Gamma-Gamma: the spend model of repeat buyers.

Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005), "RFM and CLV: using iso-value
curves for customer base analysis", Journal of Marketing Research 42(4), 415-430,
and Hardie's note "The Gamma-Gamma model of monetary value" (2013). Each purchase's
amount is Gamma(p, nu) with nu ~ Gamma(q, gamma) across customers; the parameter
``gamma`` is called ``v`` here, as in lifetimes. Only customers with at least one
repeat purchase carry information (``frequency`` > 0, ``monetary_value`` = mean spend
of the repeat purchases).
"""

import warnings

import numpy as np
from scipy import special

from ._base import BaseModel, unique_inverse
from .exceptions import ModelWarning


def _unpack(params):
    return (float(params[k]) for k in ("p", "q", "v"))


def _prepare(x, m):
    x_unique, x_index = unique_inverse(x)
    return {"x": x, "m": m, "log_m": np.log(m), "log_x": np.log(x), "x_unique": x_unique, "x_index": x_index}


def _loglik_and_grad(params, data):
    """Log density of each customer's mean spend m over x purchases, and its gradient.

    ln f = ln G(px+q) - ln G(px) - ln G(q) + q ln v + (px-1) ln m + px ln x - (px+q) ln(v + x m)
    (Hardie 2013, eq. 4, for the mean of x purchases).
    """
    p, q, v = params
    x, m, log_m, log_x = data["x"], data["m"], data["log_m"], data["log_x"]
    xu, idx = data["x_unique"], data["x_index"]
    log_v_xm = np.log(v + x * m)
    ll = (
        (special.gammaln(p * xu + q) - special.gammaln(p * xu))[idx]
        - special.gammaln(q) + q * np.log(v) + (p * x - 1) * log_m + p * x * log_x - (p * x + q) * log_v_xm
    )
    psi_pq = special.digamma(p * xu + q)[idx]
    d_p = x * (psi_pq - special.digamma(p * xu)[idx] + log_m + log_x - log_v_xm)
    d_q = psi_pq - special.digamma(q) + np.log(v) - log_v_xm
    d_v = q / v - (p * x + q) / (v + x * m)
    return ll, np.column_stack([d_p, d_q, d_v])


def log_likelihood(params, x, m):
    """Per-customer log-likelihood of mean spend ``m`` over ``x`` repeat purchases."""
    x, m = np.asarray(x, dtype=float), np.asarray(m, dtype=float)
    return _loglik_and_grad(np.array(list(_unpack(params))), _prepare(x, m))[0]


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


def sample(params, x, random_state=None):
    """Draw each customer's mean spend over ``x`` purchases from the Gamma-Gamma process."""
    p, q, v = _unpack(params)
    rng = np.random.default_rng(random_state)
    x = np.asarray(x, dtype=float)
    rate = rng.gamma(q, 1 / v, size=x.shape)
    total = rng.gamma(np.maximum(p * x, 1e-300), 1 / rate)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(x > 0, total / x, 0.0)


class GammaGammaModel(BaseModel):
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

    param_names = ("p", "q", "v")
    rfm_columns = ("frequency", "monetary_value")

    def _fit_rows(self, arrays):
        return (arrays["frequency"] > 0) & (arrays["monetary_value"] > 0)

    def _start_params(self, columns, weights):
        return np.array([1.0, 1.0, 1.0])

    def _prepare(self, columns):
        return _prepare(columns["frequency"], columns["monetary_value"])

    @staticmethod
    def _loglik_and_grad(params, prepared):
        return _loglik_and_grad(params, prepared)

    def _check_params(self):
        if self.params_["q"] <= 1:
            warnings.warn(
                f"GammaGammaModel: fitted q = {self.params_['q']:.4g} <= 1, so the mean spend "
                "per purchase is infinite and expected_spend will refuse to run; the spend "
                "data may be dominated by a few very large amounts",
                ModelWarning,
                stacklevel=3,
            )

    def expected_spend(self, data):
        """Expected spend per future purchase of each customer (FHL 2005 "RFM and CLV", eq. 5).

        Returns
        -------
        pandas.Series
            On ``data.index``; customers with ``frequency`` 0 get the population mean.
        """
        arrays = self._rfm(data, self.rfm_columns)
        values = expected_spend(self.params_, arrays["frequency"], arrays["monetary_value"])
        return self._series(values, data, "expected_spend")

    def population_mean_spend(self):
        """Mean spend per purchase across all customers, p v / (q - 1)."""
        self._check_fitted()
        return float(expected_spend(self.params_, 0.0, 0.0))

    def log_likelihood(self, data):
        """Per-customer log-likelihood of the repeat buyers' mean spend at the fitted parameters."""
        arrays = self._rfm(data, self.rfm_columns)
        return self._series(log_likelihood(self.params_, arrays["frequency"], arrays["monetary_value"]), data, "log_likelihood")
