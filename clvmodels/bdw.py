"""BdW: the beta-discrete-Weibull model of contract renewals.

Fader, P. S., Hardie, B. G. S., Liu, Y., Davin, J. and Steenburgh, T. (2018),
"'How to project customer retention' revisited: the role of duration dependence",
Journal of Interactive Marketing 43, 1-16 (FHLDS 2018 below). A customer with
churn propensity theta ~ Beta(alpha, beta) survives t periods with probability
(1 - theta)^(t^c): c < 1, her own churn probability falls with tenure; c > 1, it
rises; c = 1 is the shifted-beta-geometric model (:mod:`clvmodels.sbg`).

Data and time unit as in :mod:`clvmodels.sbg`: ``tenure`` (whole periods) and
``churned``. :class:`BetaDiscreteWeibullModel` fits and wraps these pure functions.
"""

import sys

import numpy as np
import pandas as pd
from scipy import special

from ._families import ContractualModel, Mixing


def _unpack(params):
    """(alpha, beta, c) as floats, or arrays where they hold one value per customer."""
    return tuple(float(params[k]) if np.ndim(params[k]) == 0 else np.asarray(params[k], dtype=float)
                 for k in ("alpha", "beta", "c"))


def log_survival(params, t):
    """ln S(t), S(t) = B(alpha, beta + t^c) / B(alpha, beta) (FHLDS 2018)."""
    alpha, beta, c = _unpack(params)
    return special.betaln(alpha, beta + np.asarray(t, dtype=float) ** c) - special.betaln(alpha, beta)


def log_churn_probability(params, t):
    """ln P(T = t) = ln[S(t - 1) - S(t)], t >= 1 (FHLDS 2018), in log space."""
    t = np.maximum(np.asarray(t, dtype=float), 1)
    before, after = log_survival(params, t - 1), log_survival(params, t)
    return before + np.log(-np.expm1(after - before))


def log_likelihood(params, tenure, churned):
    """Log-likelihood of each (tenure, churned) row: ln P(T = t) for a churned
    customer, ln S(t) for an active one."""
    tenure, churned = np.asarray(tenure, dtype=float), np.asarray(churned, dtype=float)
    return np.where(churned == 1, log_churn_probability(params, tenure), log_survival(params, tenure))


def start_params(columns, weights):
    """Start at the sBG-like point c = 1."""
    return np.array([1.0, 1.0, 1.0])


def sample(params, T, random_state=None):
    """Draw (tenure, churned) of customers observed for ``T`` periods each.

    Given theta, P(T > t) = (1 - theta)^(t^c), so with U uniform the period of
    leaving is the smallest t with t^c >= ln U / ln(1 - theta).
    """
    alpha, beta, c = _unpack(params)
    rng = np.random.default_rng(random_state)
    T = np.asarray(T, dtype=float).reshape(-1)
    theta = np.clip(rng.beta(alpha, beta, size=T.shape), 1e-300, 1 - 1e-16)
    threshold = np.log(rng.uniform(np.finfo(float).tiny, 1.0, size=T.shape)) / np.log1p(-theta)
    with np.errstate(over="ignore"):
        leaves = np.maximum(np.ceil(np.minimum(threshold, 1e300) ** (1.0 / c)), 1.0)
    churned = leaves <= T
    return pd.DataFrame({"tenure": np.where(churned, leaves, T), "churned": churned})


def mixing_distributions(params):
    """Churn propensity theta ~ Beta(alpha, beta) across customers (FHLDS 2018)."""
    from scipy import stats

    alpha, beta, c = _unpack(params)
    return {
        "dropout": Mixing(stats.beta(alpha, beta), f"Beta(α = {alpha:.3g}, β = {beta:.3g}), c = {c:.3g}",
                          "churn propensity θ (the churn probability of the first period)", bounded=True),
    }


class BetaDiscreteWeibullModel(ContractualModel):
    """Beta-discrete-Weibull model of contract renewals (Fader, Hardie, Liu, Davin &
    Steenburgh 2018): the sBG with individual churn probabilities that fall (c < 1)
    or rise (c > 1) with tenure; c = 1 is the sBG.

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty on the parameters; 0 gives the maximum-likelihood estimate.
    max_iter : int, default 2000
        Iteration budget of each optimiser tried.
    dropout_covariates : list of str, optional
        Numeric columns with coefficients on alpha and on beta, as in
        :class:`clvmodels.ShiftedBetaGeoModel`.
    covariate_penalizer : float, default 0.0
        L2 penalty on the coefficients of the standardised covariates.

    Examples
    --------
    >>> import clvmodels as clv
    >>> table = clv.tenure_from_survivors([1000, 631, 468, 382, 326, 289, 262, 241])
    >>> bdw = clv.BetaDiscreteWeibullModel().fit(table, sample_weight="weight")
    >>> bool(bdw.log_likelihood_ >= clv.ShiftedBetaGeoModel().fit(table, sample_weight="weight").log_likelihood_)
    True
    """

    key = "bdw"
    title = "BdW"
    reference = "Fader, Hardie, Liu, Davin & Steenburgh (2018), Journal of Interactive Marketing 43"
    param_names = ("alpha", "beta", "c")
    param_descriptions = {
        "alpha": "churn propensity theta: first shape of its Beta distribution",
        "beta": "churn propensity theta: second shape of its Beta distribution",
        "c": "duration dependence: < 1 churn falls with tenure, > 1 it rises, 1 = sBG",
    }
    example_params = {"alpha": 1.2, "beta": 2.5, "c": 0.7}
    # Covariates as in the sBG (clvmodels.sbg): alpha_i = alpha exp(g_a' z), beta_i =
    # beta exp(g_b' z), c shared; fitted by finite differences of log_likelihood.
    covariate_links = {"dropout": (("alpha", 1), ("beta", 1))}
    covariate_quantities = {
        "alpha": "the churn shape alpha (larger: more likely to leave)",
        "beta": "the churn shape beta (larger: less likely to leave)",
    }
    formulas = sys.modules[__name__]  # this module's functions (see clvmodels._families)
