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
arrays; :class:`ShiftedBetaGeoModel` fits and wraps them. Either parameter may hold
one value per customer (covariates, :mod:`clvmodels._covariates`).

Covariates. Customer i's churn probability theta_i ~ Beta(alpha_i, beta_i) with
alpha_i = alpha exp(g_a' z_i) and beta_i = beta exp(g_b' z_i): both shapes log-linear
in the covariates, as in the "beta-logistic" survival model of Hubbard, Rostykus,
Raimond & Jebara (2019), "Beta survival models" (arXiv), whose per-period churn
probability is Beta-distributed with shapes exp(linear predictors), and as the BG/NBD's
dropout shapes a and b in Fader & Hardie's note 019 (2007). (CLVTools has no sBG with
covariates.) A positive g_a raises the mean churn probability alpha / (alpha + beta),
a positive g_b lowers it.
"""

import sys

import numpy as np
import pandas as pd
from scipy import special

from ._families import ContractualModel, Mixing
from ._special import digamma_difference, log_hyp2f1_one_b_c, log_pochhammer


def _unpack(params):
    """(alpha, beta) as floats, or arrays where they hold one value per customer."""
    return tuple(float(params[k]) if np.ndim(params[k]) == 0 else np.asarray(params[k], dtype=float)
                 for k in ("alpha", "beta"))


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


def prepare_rows(columns):
    """What :func:`row_derivatives` needs: tenure t, churned c and the renewals made,
    t - c."""
    tenure = np.asarray(columns["tenure"], dtype=float)
    churned = np.asarray(columns["churned"], dtype=float)
    return {"tenure": tenure, "churned": churned, "renewals": tenure - churned}


def _trigamma_difference(c, x):
    return special.polygamma(1, c + x) - special.polygamma(1, c)


def row_derivatives(params, data, order):
    """Each row's log-likelihood and, for ``order`` 1 and 2, its gradient and Hessian
    w.r.t. (alpha, beta), which may hold one value per customer (covariates).

    With c = churned and m = t - c renewals made, both cases of :func:`log_likelihood`
    are ln L = c ln alpha + ln G(beta + m) - ln G(beta) - ln G(alpha + beta + t)
    + ln G(alpha + beta), whose derivatives are differences of digamma and trigamma
    functions.

    Returns
    -------
    ll : ndarray
    grad : list of 2 ndarrays, or None
    hess : dict of (i, j) -> ndarray for i <= j, or None
    """
    alpha, beta = _unpack(params)
    t, c, m = data["tenure"], data["churned"], data["renewals"]
    ab = alpha + beta
    ll = c * np.log(alpha) + log_pochhammer(beta, m) - log_pochhammer(ab, t)
    if order == 0:
        return ll, None, None
    shared = -digamma_difference(ab, t)
    grad = [c / alpha + shared, digamma_difference(beta, m) + shared]
    if order == 1:
        return ll, grad, None
    both = -_trigamma_difference(ab, t)
    n = len(t)
    hess = {(0, 0): np.broadcast_to(both - c / alpha**2, (n,)), (0, 1): np.broadcast_to(both, (n,)),
            (1, 1): np.broadcast_to(_trigamma_difference(beta, m) + both, (n,))}
    return ll, grad, hess


def residual_lifetime(params, discount_rate, tenure):
    """DERL of active customers who have renewed ``tenure`` times (FH 2010 eq. 6, n - 1 =
    tenure): (beta + t) / (alpha + beta + t) 2F1(1, beta + t + 1; alpha + beta + t + 1;
    1 / (1 + d)), elementwise (the parameters may hold one value per customer); the
    series of positive terms is summed by :func:`clvmodels._special.log_hyp2f1_one_b_c`."""
    alpha, beta = _unpack(params)
    t = np.asarray(tenure, dtype=float)
    z = 1.0 / (1.0 + float(discount_rate))
    enough = int(45.0 / -np.log(z)) + 100  # terms for the series to fall by e^-45 at ratio z
    log_f = log_hyp2f1_one_b_c(beta + t + 1.0, alpha + beta + t + 1.0, z, max_terms=max(enough, 20_000))[0]
    return (beta + t) / (alpha + beta + t) * np.exp(log_f)


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
    dropout_covariates : list of str, optional
        Numeric columns with coefficients of their own on alpha and on beta:
        alpha_i = alpha exp(g_a' z_i), beta_i = beta exp(g_b' z_i) (see
        :mod:`clvmodels.sbg`); the coefficients are ``dropout_alpha[z]`` and
        ``dropout_beta[z]``.
    covariate_penalizer : float, default 0.0
        L2 penalty on the coefficients of the standardised covariates.

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
    # Covariates (see the module docstring): alpha_i = alpha exp(g_a' z), beta_i = beta exp(g_b' z).
    covariate_links = {"dropout": (("alpha", 1), ("beta", 1))}
    covariate_quantities = {
        "alpha": "the churn shape alpha (larger: more likely to leave each period)",
        "beta": "the churn shape beta (larger: less likely to leave each period)",
    }
    formulas = sys.modules[__name__]  # this module's functions (see clvmodels._families)
