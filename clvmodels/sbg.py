"""sBG: the shifted-beta-geometric model of contract renewals.

Fader, P. S. and Hardie, B. G. S. (2007), "How to project customer retention",
Journal of Interactive Marketing 21(1), 76-90 (FH 2007 below). At the end of each
period an active customer leaves with probability theta, constant over her
lifetime, and theta ~ Beta(alpha, beta) across customers. DERL: Fader & Hardie
(2010), "Customer-base valuation in a contractual setting: the perils of ignoring
heterogeneity", Marketing Science 29(1), 85-93 (FH 2010): for a customer who has
renewed n - 1 times, DERL = (beta + n - 1) / (alpha + beta + n - 1)
2F1(1, beta + n; alpha + beta + n; 1 / (1 + d)) (FH 2010 eq. 6). That series has
positive terms, and :meth:`clvmodels.ContractualModel.expected_residual_lifetime`
sums it directly: scipy's ``hyp2f1`` overflows for long tenures at small discount
rates (e.g. 2F1(1, 171; 172; 0.998) gives inf; the sum is 198.2).

Data: ``tenure`` t (whole periods) and ``churned``: a churned customer left in
period t, an active one has renewed t times. The time unit is the period. The
functions are pure functions of a parameter mapping (``alpha``, ``beta``) and
arrays; :class:`ShiftedBetaGeoModel` fits and wraps them.
"""

import sys

import numpy as np
import pandas as pd
from scipy import special

from ._families import ContractualModel, Mixing


def _unpack(params):
    return float(params["alpha"]), float(params["beta"])


def log_survival(params, t):
    """ln S(t), S(t) = B(alpha, beta + t) / B(alpha, beta) (FH 2007)."""
    alpha, beta = _unpack(params)
    return special.betaln(alpha, beta + np.asarray(t, dtype=float)) - special.betaln(alpha, beta)


def log_churn_probability(params, t):
    """ln P(T = t) = ln B(alpha + 1, beta + t - 1) / B(alpha, beta), t >= 1 (FH 2007)."""
    alpha, beta = _unpack(params)
    t = np.asarray(t, dtype=float)
    return special.betaln(alpha + 1, beta + np.maximum(t, 1) - 1) - special.betaln(alpha, beta)


def log_likelihood(params, tenure, churned):
    """Log-likelihood of each (tenure, churned) row (FH 2007): ln P(T = t) for a
    churned customer, ln S(t) for an active one."""
    tenure, churned = np.asarray(tenure, dtype=float), np.asarray(churned, dtype=float)
    return np.where(churned == 1, log_churn_probability(params, tenure), log_survival(params, tenure))


def retention(params, t):
    """r(t) = S(t) / S(t - 1) = (beta + t - 1) / (alpha + beta + t - 1), t >= 1 (FH 2007)."""
    alpha, beta = _unpack(params)
    t = np.asarray(t, dtype=float)
    return (beta + t - 1) / (alpha + beta + t - 1)


def sample(params, T, random_state=None):
    """Draw (tenure, churned) of customers observed for ``T`` periods each: theta ~
    Beta(alpha, beta), then the period of leaving ~ Geometric(theta)."""
    alpha, beta = _unpack(params)
    rng = np.random.default_rng(random_state)
    T = np.asarray(T, dtype=float).reshape(-1)
    theta = np.clip(rng.beta(alpha, beta, size=T.shape), 1e-300, 1.0)
    leaves = rng.geometric(theta).astype(float)
    churned = leaves <= T
    return pd.DataFrame({"tenure": np.where(churned, leaves, T), "churned": churned})


def mixing_distributions(params):
    """Churn probability per period theta ~ Beta(alpha, beta) across customers (FH 2007)."""
    from scipy import stats

    alpha, beta = _unpack(params)
    return {
        "dropout": Mixing(stats.beta(alpha, beta), f"Beta(α = {alpha:.3g}, β = {beta:.3g})",
                          "probability of not renewing at the end of a period, θ", bounded=True),
    }


class ShiftedBetaGeoModel(ContractualModel):
    """Shifted-beta-geometric model of contract renewals (Fader & Hardie 2007).

    Each customer leaves at the end of a period with her own constant probability
    theta ~ Beta(alpha, beta); retention rates rise with tenure only because the
    customers most likely to leave go first. Fits ``tenure``/``churned`` tables
    (:func:`clvmodels.tenure_summary`, :func:`clvmodels.tenure_from_survivors`).

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty on the parameters; 0 gives the maximum-likelihood estimate.
    max_iter : int, default 2000
        Iteration budget of each optimiser tried.

    Examples
    --------
    Fader & Hardie (2007), the "regular" segment's survivors over seven years:

    >>> import clvmodels as clv
    >>> table = clv.tenure_from_survivors([1000, 631, 468, 382, 326, 289, 262, 241])
    >>> sbg = clv.ShiftedBetaGeoModel().fit(table, sample_weight="weight")
    >>> sbg.params_.round(3).to_dict()
    {'alpha': 0.704, 'beta': 1.182}
    """

    key = "sbg"
    title = "sBG"
    reference = "Fader & Hardie (2007), Journal of Interactive Marketing 21(1)"
    param_names = ("alpha", "beta")
    param_descriptions = {
        "alpha": "churn probability theta: first shape of its Beta distribution",
        "beta": "churn probability theta: second shape of its Beta distribution",
    }
    example_params = {"alpha": 0.7, "beta": 1.2}
    formulas = sys.modules[__name__]  # this module's functions (see clvmodels._families)
