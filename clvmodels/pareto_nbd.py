"""Pareto/NBD: Poisson purchases and exponential lifetimes, both with gamma heterogeneity.

Schmittlein, D. C., Morrison, D. G. and Colombo, R. (1987), "Counting your customers:
who are they and what will they do next?", Management Science 33(1), 1-24 (SMC 1987).
The expressions follow Fader, P. S. and Hardie, B. G. S. (2005), "A note on deriving
the Pareto/NBD model and related expressions" (FH 2005 below) and (2006), "Deriving the
conditional PMF of the Pareto/NBD model" (FH 2006). While alive, a customer buys at
Poisson rate lambda ~ Gamma(r, alpha); her lifetime is exponential with rate
mu ~ Gamma(s, beta).

The functions are pure: a parameter mapping (``r``, ``alpha``, ``s``, ``beta``;
``alpha`` and ``beta`` in the data's time unit) and arrays of frequency ``x``, recency
``t_x`` and age ``T``.

Numerics. The likelihood (FH 2005 eq. 18) is
L = Gamma(r+x) alpha^r beta^s / Gamma(r) [(alpha+T)^-(r+x) (beta+T)^-s + s J], with
J = integral over (t_x, T) of (alpha+u)^-(r+x) (beta+u)^-(s+1) du = I(t_x) - I(T) and
I(u) the same integral over (u, inf): FH's A_0 = (r+s+x) J. I(u) is a Gaussian
hypergeometric function; written by Euler's transformation as

    alpha >= beta:  I(u) = (alpha+u)^-(r+x) (beta+u)^-s 2F1(1, r+x; r+s+x+1; z) / (r+s+x),
                    z = (alpha-beta)/(alpha+u)
    alpha <  beta:  I(u) = (alpha+u)^-(r+x-1) (beta+u)^-(s+1) 2F1(1, s+1; r+s+x+1; z) / (r+s+x),
                    z = (beta-alpha)/(beta+u)

the series has positive terms each at most z times the last, with z <= |alpha-beta| /
max(alpha, beta) whatever the history, so it is summed without cancellation in log
space (:func:`clvmodels._special.log_hyp2f1_one_b_c`), with its derivatives. J is
ln I(t_x) + ln(1 - I(T)/I(t_x)) (0 at t_x = T, where lifetimes returns NaN), and ln L a
log-sum of positive terms: finite for any frequency and age.
"""

import sys

import numpy as np
import pandas as pd
from scipy import special

from ._arrays import dot, unique_inverse
from ._families import Mixing, TransactionModel
from ._intervals import spread_over_periods, survival_table
from ._special import log_hyp2f1_one_b_c, log_hyp2f1_one_b_c_grouped, log_hyp2f1_positive
from ._validation import check_times

PARAMS = ("r", "alpha", "s", "beta")
# While fitting, parameters far from the optimum can put z near 1, where the series
# needs ~40 / (1 - z) terms. The optimiser is kept to z <= 0.99 (max(alpha, beta) at
# most 100 times min(alpha, beta)): beyond it the log-likelihood is reported undefined
# and the line search steps back. Predictions have no such limit.
_FIT_Z_LIMIT = 0.99
_FIT_MAX_TERMS = 5_000


def _unpack(params):
    """(r, alpha, s, beta) as floats, or as arrays where the mapping holds one value per
    customer (covariates: see :mod:`clvmodels._covariates`)."""
    return tuple(float(params[k]) if np.ndim(params[k]) == 0 else np.asarray(params[k], dtype=float) for k in PARAMS)


# ----- the tail integral I(u) and its derivatives ----------------------------------------
def _log_tail_integral(r, alpha, s, beta, x, u, order=0, starts=None, max_terms=None):
    """ln I(u) and, up to ``order``, its gradient (4, ...) and Hessian (4, 4, ...) w.r.t.
    (r, alpha, s, beta); see the module docstring for I(u).

    Elementwise: the parameters may hold one value per element (covariates), and each
    element takes the branch of its own alpha and beta. ``starts``: the elements are
    sorted by x and these are the first index of each distinct x; the series
    coefficients are then built once per x (shared parameters only).
    """
    n = r + s + x
    a_u, b_u = alpha + u, beta + u
    log_a, log_b = np.log(a_u), np.log(b_u)
    above = alpha >= beta  # the branch: a bool, or one per element
    z = np.where(above, (alpha - beta) / a_u, (beta - alpha) / b_u)
    shape_b = np.where(above, r + x, s + 1.0)
    power_a = np.where(above, r + x, r + x - 1.0)
    power_b = np.where(above, s, s + 1.0)
    if starts is None:
        limit = {} if max_terms is None else {"max_terms": max_terms}
        found = log_hyp2f1_one_b_c(shape_b, n + 1.0, z, order=order, **limit)
    else:
        found = log_hyp2f1_one_b_c_grouped(
            np.broadcast_to(shape_b, x.shape)[starts], (n + 1.0)[starts], z, starts, order=order,
            max_terms=_FIT_MAX_TERMS,
        )
    log_i = found[0] - power_a * log_a - power_b * log_b - np.log(n)
    if order == 0:
        return log_i, None, None
    h_grad = found[1]
    d_b, d_c, d_z = h_grad
    inv_n = 1.0 / n
    # b of 2F1 is r + x (alpha >= beta) or s + 1: d_b goes to r or to s.
    z_alpha = np.where(above, b_u / a_u**2, -1.0 / b_u)
    z_beta = np.where(above, -1.0 / a_u, a_u / b_u**2)
    grad = np.array(np.broadcast_arrays(
        -log_a - inv_n + np.where(above, d_b, 0.0) + d_c,
        -power_a / a_u + d_z * z_alpha,
        -log_b - inv_n + np.where(above, 0.0, d_b) + d_c,
        -power_b / b_u + d_z * z_beta,
    ))
    if order == 1:
        return log_i, grad, None
    h = found[2]
    h_bb, h_cc, h_zz = h[0, 0], h[1, 1], h[2, 2]
    h_bc, h_bz, h_cz = h[0, 1], h[0, 2], h[1, 2]
    z_aa = np.where(above, -2.0 * b_u / a_u**3, 0.0)
    z_ab = np.where(above, 1.0 / a_u**2, 1.0 / b_u**2)
    z_bb = np.where(above, 0.0, -2.0 * a_u / b_u**3)
    # The parameter in b (r for alpha >= beta, s otherwise) moves b and c; the other
    # shape moves c only; alpha and beta move z only. Entries in (r, alpha, s, beta).
    both_z = h_bz + h_cz
    in_b = h_bb + 2 * h_bc + h_cc
    on_r_z, on_s_z = np.where(above, both_z, h_cz), np.where(above, h_cz, both_z)
    hess = np.empty((4, 4) + np.shape(z))
    hess[0, 0] = np.where(above, in_b, h_cc)
    hess[2, 2] = np.where(above, h_cc, in_b)
    hess[0, 2] = hess[2, 0] = h_bc + h_cc
    hess[0, 1] = hess[1, 0] = on_r_z * z_alpha
    hess[0, 3] = hess[3, 0] = on_r_z * z_beta
    hess[2, 1] = hess[1, 2] = on_s_z * z_alpha
    hess[2, 3] = hess[3, 2] = on_s_z * z_beta
    hess[1, 1] = h_zz * z_alpha**2 + d_z * z_aa + power_a / a_u**2
    hess[1, 3] = hess[3, 1] = h_zz * z_alpha * z_beta + d_z * z_ab
    hess[3, 3] = h_zz * z_beta**2 + d_z * z_bb + power_b / b_u**2
    hess[0, 1] -= 1.0 / a_u
    hess[1, 0] -= 1.0 / a_u
    hess[2, 3] -= 1.0 / b_u
    hess[3, 2] -= 1.0 / b_u
    n2 = inv_n * inv_n
    for i in (0, 2):
        for j in (0, 2):
            hess[i, j] += n2
    return log_i, grad, hess


def _log_j(log_i_tx, log_i_T):
    """ln J = ln(I(t_x) - I(T)); -inf where t_x = T."""
    with np.errstate(divide="ignore"):
        return log_i_tx + np.log(-np.expm1(np.minimum(log_i_T - log_i_tx, 0.0)))


def _pieces(r, alpha, s, beta, x, t_x, T):
    """ln of the alive term (alpha+T)^-(r+x) (beta+T)^-s and of s J."""
    log_alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    log_dead = np.log(s) + _log_j(
        _log_tail_integral(r, alpha, s, beta, x, t_x)[0], _log_tail_integral(r, alpha, s, beta, x, T)[0]
    )
    return log_alive, log_dead


def _columns(*values):
    return np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in values))


def log_likelihood(params, x, t_x, T):
    """Log-likelihood of each customer's (x, t_x, T) (FH 2005 eq. 18; SMC 1987).

    ln L = ln G(r+x) - ln G(r) + r ln alpha + s ln beta
           + ln[(alpha+T)^-(r+x) (beta+T)^-s + s J],   J = (A_0 of FH 2005) / (r+s+x),

    the second term a log-sum of positive parts; both of FH's branches (alpha >= beta
    and alpha < beta) are covered by the series of the module docstring.

    Parameters
    ----------
    params : mapping
        ``r``, ``alpha``, ``s``, ``beta``.
    x, t_x, T : array-like
        Repeat purchases, time of the last purchase, time since the first purchase,
        in the unit of ``alpha`` and ``beta``.

    Returns
    -------
    ndarray
    """
    r, alpha, s, beta = _unpack(params)
    x, t_x, T = _columns(x, t_x, T)
    log_alive, log_dead = _pieces(r, alpha, s, beta, x, t_x, T)
    return (
        special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        + np.logaddexp(log_alive, log_dead)
    )


# ----- analytic derivatives for the fitting engine -----------------------------------------
def prepare(columns, weights):
    """Distinct frequencies and distinct (x, u) pairs, u = t_x and T, on which the
    gamma functions and the hypergeometric series are evaluated once."""
    x, t_x, T = columns["frequency"], columns["recency"], columns["T"]
    x_unique, x_index = unique_inverse(x)
    pairs = np.concatenate([x + 1j * t_x, x + 1j * T])
    distinct, pair_index = np.unique(pairs, return_inverse=True)
    pair_index = pair_index.reshape(-1)
    pair_x = distinct.real.copy()
    starts = np.flatnonzero(np.diff(pair_x, prepend=-1.0))  # sorted by x, then u
    return {
        "x": x, "T": T, "w": weights, "w_sum": float(weights.sum()),
        "x_unique": x_unique, "w_per_x": np.bincount(x_index, weights=weights, minlength=len(x_unique)),
        "pair_x": pair_x, "pair_u": distinct.imag.copy(), "pair_starts": starts,
        "tx_index": pair_index[: len(x)], "T_index": pair_index[len(x):],
    }


def _sym(matrix):
    return np.triu(matrix) + np.triu(matrix, 1).T


def derivatives(params, data, order):
    """Weighted total of FH 2005 eq. 18 and its gradient and Hessian w.r.t. (r, alpha, s, beta).

    With V = e^l0 + e^l1 - e^l2 (l0 = ln of the alive term, l1 = ln s I(t_x),
    l2 = ln s I(T)) and omega_k = +-e^lk / V: grad ln V = sum_k omega_k grad l_k and
    hess ln V = sum_k omega_k (hess l_k + grad l_k grad l_k^T) - grad ln V grad ln V^T.
    """
    r, alpha, s, beta = params
    if abs(alpha - beta) / max(alpha, beta) > _FIT_Z_LIMIT:
        return -np.inf, None, None
    x, T, w = data["x"], data["T"], data["w"]
    xu, wu, w_sum = data["x_unique"], data["w_per_x"], data["w_sum"]
    log_i, grad_i, hess_i = _log_tail_integral(
        r, alpha, s, beta, data["pair_x"], data["pair_u"], order, starts=data["pair_starts"]
    )
    ix, iT = data["tx_index"], data["T_index"]
    log_s = np.log(s)
    a_T, b_T = alpha + T, beta + T
    log_aT, log_bT = np.log(a_T), np.log(b_T)
    l0 = -(r + x) * log_aT - s * log_bT
    l1, l2 = log_s + log_i[ix], log_s + log_i[iT]
    log_dead = log_s + _log_j(log_i[ix], log_i[iT])
    log_v = np.logaddexp(l0, log_dead)
    gamma_terms = special.gammaln(r + xu) - special.gammaln(r)
    ll = dot(wu, gamma_terms) + w_sum * (r * np.log(alpha) + s * np.log(beta)) + dot(w, log_v)
    if order == 0:
        return ll, None, None

    omega = np.array([np.exp(l0 - log_v), np.exp(l1 - log_v), -np.exp(l2 - log_v)])
    e_s = np.array([0.0, 0.0, 1.0 / s, 0.0])
    g0 = np.array([-log_aT, -(r + x) / a_T, -log_bT, -s / b_T])
    g1 = grad_i[:, ix] + e_s[:, None]
    g2 = grad_i[:, iT] + e_s[:, None]
    grad_v = omega[0] * g0 + omega[1] * g1 + omega[2] * g2
    grad = np.array([
        dot(wu, special.digamma(r + xu) - special.digamma(r)) + w_sum * np.log(alpha),
        w_sum * r / alpha,
        w_sum * np.log(beta),
        w_sum * s / beta,
    ]) + grad_v @ w
    if order == 1:
        return ll, grad, None

    wo = omega * w
    hess = (g0 * wo[0]) @ g0.T + (g1 * wo[1]) @ g1.T + (g2 * wo[2]) @ g2.T - (grad_v * w) @ grad_v.T
    # Second derivatives of each piece; those of ln I summed per distinct (x, u) pair.
    n_pairs = len(log_i)
    pair_weight = np.bincount(ix, weights=wo[1], minlength=n_pairs) + np.bincount(iT, weights=wo[2], minlength=n_pairs)
    hess += (hess_i.reshape(16, n_pairs) @ pair_weight).reshape(4, 4)
    ws = wo[1].sum() + wo[2].sum()
    hess[2, 2] -= ws / s**2
    h0 = np.zeros((4, 4))
    h0[0, 1] = -dot(wo[0], 1.0 / a_T)
    h0[1, 1] = dot(wo[0], (r + x) / a_T**2)
    h0[2, 3] = -dot(wo[0], 1.0 / b_T)
    h0[3, 3] = dot(wo[0], s / b_T**2)
    h0[1, 0], h0[3, 2] = h0[0, 1], h0[2, 3]
    hess += h0
    hess[0, 0] += dot(wu, special.polygamma(1, r + xu) - special.polygamma(1, r))
    hess[0, 1] += w_sum / alpha
    hess[1, 0] += w_sum / alpha
    hess[1, 1] -= w_sum * r / alpha**2
    hess[2, 3] += w_sum / beta
    hess[3, 2] += w_sum / beta
    hess[3, 3] -= w_sum * s / beta**2
    return ll, grad, (hess + hess.T) / 2


def prepare_rows(columns):
    """What :func:`row_derivatives` needs: each row's x, t_x and T."""
    return {c: np.asarray(columns[c], dtype=float) for c in ("frequency", "recency", "T")}


def _twice(value):
    """A per-row parameter repeated for the two ends t_x and T of the tail integral."""
    return value if np.ndim(value) == 0 else np.concatenate([value, value])


def row_derivatives(params, data, order):
    """Each customer's log-likelihood (FH 2005 eq. 18) and, for ``order`` 1 and 2, its
    gradient and Hessian w.r.t. (r, alpha, s, beta), which may hold one value per
    customer (models with covariates, :mod:`clvmodels._covariates`).

    The row-wise form of :func:`derivatives`: with V = e^l0 + e^l1 - e^l2 and
    omega_k = +-e^lk / V, grad ln V = sum_k omega_k grad l_k and hess ln V =
    sum_k omega_k (hess l_k + grad l_k grad l_k^T) - grad ln V grad ln V^T, plus the
    derivatives of ln G(r+x) - ln G(r) + r ln alpha + s ln beta. While fitting, a row
    whose alpha and beta differ by more than a factor 100 (the series' ``_FIT_Z_LIMIT``)
    makes the whole likelihood undefined, so the optimiser steps back.

    Returns
    -------
    ll : ndarray
    grad : list of 4 ndarrays, or None
    hess : dict of (i, j) -> ndarray for i <= j, or None
    """
    r, alpha, s, beta = _unpack(params)
    x, t_x, T = data["frequency"], data["recency"], data["T"]
    n = len(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        too_far = np.abs(alpha - beta) / np.maximum(alpha, beta) > _FIT_Z_LIMIT
    if np.any(too_far):  # undefined: derivatives of zero, never used
        zero = np.zeros(n)
        return (np.full(n, -np.inf), None if order < 1 else [zero] * 4,
                None if order < 2 else {(i, j): zero for i in range(4) for j in range(i, 4)})
    log_i, grad_i, hess_i = _log_tail_integral(
        _twice(r), _twice(alpha), _twice(s), _twice(beta), np.concatenate([x, x]), np.concatenate([t_x, T]),
        order, max_terms=_FIT_MAX_TERMS,
    )
    log_s = np.log(s)
    a_T, b_T = alpha + T, beta + T
    log_aT, log_bT = np.log(a_T), np.log(b_T)
    l0 = -(r + x) * log_aT - s * log_bT
    l1, l2 = log_s + log_i[:n], log_s + log_i[n:]
    log_v = np.logaddexp(l0, log_s + _log_j(log_i[:n], log_i[n:]))
    ll = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta) + log_v
    if order == 0:
        return ll, None, None

    omega = [np.exp(l0 - log_v), np.exp(l1 - log_v), -np.exp(l2 - log_v)]
    g0 = [-log_aT, -(r + x) / a_T, -log_bT, -s / b_T]
    g1 = [grad_i[i, :n] for i in range(4)]
    g2 = [grad_i[i, n:] for i in range(4)]
    g1[2], g2[2] = g1[2] + 1.0 / s, g2[2] + 1.0 / s  # the ln s of l1 and l2
    grad_v = [omega[0] * g0[i] + omega[1] * g1[i] + omega[2] * g2[i] for i in range(4)]
    grad = [
        special.digamma(r + x) - special.digamma(r) + np.log(alpha) + grad_v[0],
        r / alpha + grad_v[1],
        np.log(beta) + grad_v[2],
        s / beta + grad_v[3],
    ]
    if order == 1:
        return ll, grad, None

    hess = {}
    for i in range(4):
        for j in range(i, 4):
            hess[i, j] = (
                omega[0] * g0[i] * g0[j] + omega[1] * (g1[i] * g1[j] + hess_i[i, j, :n])
                + omega[2] * (g2[i] * g2[j] + hess_i[i, j, n:]) - grad_v[i] * grad_v[j]
            )
    hess[2, 2] -= (omega[1] + omega[2]) / s**2
    hess[0, 1] -= omega[0] / a_T
    hess[1, 1] += omega[0] * (r + x) / a_T**2
    hess[2, 3] -= omega[0] / b_T
    hess[3, 3] += omega[0] * s / b_T**2
    hess[0, 0] += special.polygamma(1, r + x) - special.polygamma(1, r)
    hess[0, 1] += 1.0 / alpha
    hess[1, 1] -= r / alpha**2
    hess[2, 3] += 1.0 / beta
    hess[3, 3] -= s / beta**2
    return ll, grad, {key: np.broadcast_to(value, (n,)) for key, value in hess.items()}


def start_params(columns, weights):
    """Start values in the units the engine fits in (times rescaled so the longest
    observation is 10): r = s = 1, alpha from the mean purchase rate (r/alpha = mean x /
    mean T) and beta = the mean age, so Newton starts near the data rather than on the
    ridge where s and beta grow together."""
    x, T = columns["frequency"], columns["T"]
    scale = 10.0 / max(float(np.max(T)), 1e-300)
    mean_T = max(float(np.average(T, weights=weights)) * scale, 1e-3)
    mean_x = max(float(np.average(x, weights=weights)), 1e-3)
    return np.array([1.0, mean_T / mean_x, 1.0, mean_T])


# ----- predictions -----------------------------------------------------------------------------
def _log_odds_dead(r, alpha, s, beta, x, t_x, T):
    log_alive, log_dead = _pieces(r, alpha, s, beta, x, t_x, T)
    return log_dead - log_alive


def probability_alive(params, x, t_x, T):
    """P(alive at T | x, t_x, T) (FH 2005 eq. 19): the alive term's share of the likelihood,
    1 / (1 + s J (alpha+T)^(r+x) (beta+T)^s)."""
    r, alpha, s, beta = _unpack(params)
    x, t_x, T = _columns(x, t_x, T)
    return special.expit(-_log_odds_dead(r, alpha, s, beta, x, t_x, T))


def _expm1_ratio(eps, log_growth):
    """(1 - exp(-eps L)) / eps, its limit L at eps = 0 (elementwise)."""
    if np.ndim(eps) == 0:
        return log_growth if eps == 0 else -np.expm1(-eps * log_growth) / eps
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(eps == 0, log_growth, -np.expm1(-eps * log_growth) / eps)


def expected_purchases(params, t, x, t_x, T, ticks_per_unit=None):
    """E[X(T, T+t) | x, t_x, T] (FH 2005 eq. 22; SMC 1987):

        P(alive) (r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)],

    written with expm1 so it is exact at s = 1 (where it is P(alive) (r+x)/(alpha+T)
    (beta+T) ln(1 + t/(beta+T))). ``t`` in the unit of ``alpha``; an array broadcasts
    against the customers. ``ticks_per_unit`` is accepted for the common signature.
    """
    r, alpha, s, beta = _unpack(params)
    t = check_times(t)
    x, t_x, T = _columns(x, t_x, T)
    alive = probability_alive(params, x, t_x, T)
    b_T = beta + T
    per_alive = (r + x) / (alpha + T) * b_T * _expm1_ratio(s - 1.0, np.log1p(t / b_T))
    return alive * per_alive


def expected_purchases_new_customer(params, t):
    """E[X(t)] for a customer just acquired (FH 2005 eq. 17; SMC 1987):
    r beta / (alpha (s-1)) [1 - (beta/(beta+t))^(s-1)], ``t`` in the model's time unit."""
    r, alpha, s, beta = _unpack(params)
    t = check_times(t)
    return r / alpha * beta * _expm1_ratio(s - 1.0, np.log1p(t / beta))


def _log_complete_integral(k, n, s, i, a_prime, b_prime, alpha_at_least_beta):
    """ln of the integral over (0, inf) of v^i (A'+v)^-(k+n) (B'+v)^-(s+1) dv.

    Expanding the factor with the smaller rate around the larger one gives
    max(A', B')^(i-(k+n+s)) B(i+1, m) 2F1(.; m; m+i+1; z), m = k+n+s-i; for A' < B' it
    is summed after Euler's transformation, so in both cases every term is positive.
    (A' - B' = alpha - beta: ``alpha_at_least_beta`` is one bool, or one per element
    when the parameters differ between customers.)
    """
    if np.ndim(alpha_at_least_beta) == 0:
        return _log_complete_one_branch(k, n, s, i, a_prime, b_prime, bool(alpha_at_least_beta))
    values = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (k, n, s, i, a_prime, b_prime)),
                                 np.asarray(alpha_at_least_beta))
    branch = values[-1]
    out = np.empty(branch.shape)
    for flag in (True, False):
        rows = branch == flag
        if np.any(rows):
            out[rows] = _log_complete_one_branch(*(v[rows] for v in values[:-1]), flag)
    return out


def _log_complete_one_branch(k, n, s, i, a_prime, b_prime, alpha_at_least_beta):
    m = k + n + s - i
    c = k + n + s + 1.0
    log_beta = special.betaln(i + 1.0, m)
    if alpha_at_least_beta:
        z = (a_prime - b_prime) / a_prime
        return (i - (k + n + s)) * np.log(a_prime) + log_beta + log_hyp2f1_positive(s + 1.0, m, c, z)
    z = (b_prime - a_prime) / b_prime
    return (
        (i - (k + n + s)) * np.log(b_prime) + log_beta + (1.0 + i - k - n) * (np.log(a_prime) - np.log(b_prime))
        + log_hyp2f1_positive(s + 1.0, i + 1.0, c, z)
    )


# Elements of FH 2006's inner sums evaluated at once (bounds memory for many customers
# and counts: each (customer, n) pair has n + 1 of them).
_PMF_CHUNK_TERMS = 1_000_000


def _log_pmf_alive(r, alpha, s, beta, n, t, x, T):
    """ln P(X(T, T+t) = n | alive at T, x, T), arrays n, t, x, T of one shape (1-d).

    Given alive at T, lambda ~ Gamma(r+x, alpha+T) and mu ~ Gamma(s, beta+T); the
    customer buys at rate lambda for min(t, remaining lifetime). Either she survives
    the whole period (a negative binomial count times ((beta+T)/(beta+T+t))^s), or she
    dies at some v < t after n purchases, which contributes

        s (alpha+T)^k (beta+T)^s G(k+n) / (G(k) n!) integral_0^t v^n (A+v)^-(k+n) (B+v)^-(s+1) dv

    (k = r+x, A = alpha+T, B = beta+T). FH 2006 write that integral as a complete one
    minus a sum of n+1 hypergeometric terms (v = t + w and the binomial expansion of
    (t+w)^n); here each is the positive series of :func:`_log_complete_integral`, and
    the n+1 terms of every (customer, n) are evaluated in one ragged batch.
    """
    k = r + x
    A, B = alpha + T, beta + T
    s_rows = np.broadcast_to(s, n.shape)
    log_nb_coef = special.gammaln(k + n) - special.gammaln(k) - special.gammaln(n + 1.0)
    with np.errstate(divide="ignore"):
        log_survive = (
            log_nb_coef + k * (np.log(A) - np.log(A + t)) + special.xlogy(n, t) - n * np.log(A + t)
            + s * (np.log(B) - np.log(B + t))
        )
    branch = alpha >= beta
    log_full = _log_complete_integral(k, n, s, n, A, B, branch)
    log_after_t = np.empty(n.size)
    terms = (n + 1).astype(np.int64)
    start = 0
    while start < n.size:
        stop = start + max(1, int(np.searchsorted(np.cumsum(terms[start:]), _PMF_CHUNK_TERMS)))
        rows = slice(start, stop)
        owner = np.repeat(np.arange(stop - start), terms[rows])
        first = np.cumsum(terms[rows]) - terms[rows]
        i = np.arange(owner.size) - first[owner]
        nn, tt = n[rows][owner], t[rows][owner]
        branch_terms = branch if np.ndim(branch) == 0 else branch[rows][owner]
        with np.errstate(divide="ignore"):
            log_binomial = special.gammaln(nn + 1.0) - special.gammaln(i + 1.0) - special.gammaln(nn - i + 1.0)
            log_terms = (
                log_binomial + special.xlogy(nn - i, tt)
                + _log_complete_integral(k[rows][owner], nn, s_rows[rows][owner], i, (A + t)[rows][owner],
                                         (B + t)[rows][owner], branch_terms)
            )
        peak = np.maximum.reduceat(log_terms, first)
        log_after_t[rows] = peak + np.log(np.add.reduceat(np.exp(log_terms - peak[owner]), first))
        start = stop
    with np.errstate(divide="ignore"):
        log_before_t = log_full + np.log(-np.expm1(np.minimum(log_after_t - log_full, 0.0)))
    log_die = np.log(s) + k * np.log(A) + s * np.log(B) + log_nb_coef + log_before_t
    return np.logaddexp(log_survive, log_die)


def conditional_probability_of_purchases(params, n, t, x, t_x, T):
    """P(X(T, T+t) = n | x, t_x, T) (FH 2006): probability of exactly ``n`` purchases in
    the next ``t`` time units given the history; ``n`` broadcasts against the customers.

    (1 - P(alive)) [n = 0] + P(alive) P(X(T, T+t) = n | alive), the second factor from
    :func:`_log_pmf_alive`. The work grows like n^2 (FH's sum of n + 1 terms per n).
    """
    n, t, x, t_x, T = _columns(n, t, x, t_x, T)
    shape = n.shape
    n, t, x, t_x, T = (np.ravel(v) for v in (n, t, x, t_x, T))
    r, alpha, s, beta = (v if np.ndim(v) == 0 else np.ravel(np.broadcast_to(v, shape)) for v in _unpack(params))
    alive = special.expit(-_log_odds_dead(r, alpha, s, beta, x, t_x, T))
    result = alive * np.exp(_log_pmf_alive(r, alpha, s, beta, n, t, x, T)) + (1.0 - alive) * (n == 0)
    return result.reshape(shape)


def survival_if_alive(params, t, floor, x, T):
    """P(X(T, T+t) > k | alive at T, x, T) for k = 0, 1, ... per (x, T), each row ending
    where it falls to ``floor`` under every draw (see
    :func:`clvmodels._intervals.survival_table`).

    One minus the running sum of :func:`_log_pmf_alive` (FH 2006), evaluated in
    blocks of k that double in length, once per distinct (x, T) and parameter draw
    (``params`` may hold arrays of shape (draws, 1)); the cost per state still grows
    like k^2.
    """
    return survival_table(_BlockTail(params, t, x, T), floor)


class _BlockTail:
    """:func:`survival_if_alive`'s steps in k, from PMF blocks of doubling length."""

    def __init__(self, params, t, x, T):
        draws = [np.ravel(np.asarray(params[k], dtype=float)) for k in PARAMS]
        self.draws = list(zip(*np.broadcast_arrays(*draws)))
        self.t, self.x, self.T = float(t), np.ravel(x).astype(float), np.ravel(T).astype(float)
        self.below = np.zeros((len(self.draws), len(self.x)))  # P(X < start of block | alive)
        self.k, self.start, self.block = 0, 0, 2
        self._fill()

    def _fill(self):
        n_states, width = len(self.x), self.block
        counts = np.tile(np.arange(self.start, self.start + width, dtype=float), n_states)
        x, T = np.repeat(self.x, width), np.repeat(self.T, width)
        t = np.full(counts.shape, self.t)
        pmf = np.stack([
            np.exp(_log_pmf_alive(r, alpha, s, beta, counts, t, x, T)).reshape(n_states, width)
            for r, alpha, s, beta in self.draws
        ])
        cumulative = self.below[:, :, None] + np.cumsum(pmf, axis=2)
        self.survivals = np.maximum(1.0 - cumulative, 0.0)
        self.below = cumulative[:, :, -1]

    def survival(self):
        return self.survivals[:, :, self.k - self.start]

    def advance(self, keep):
        if not keep.all():
            self.x, self.T, self.below = self.x[keep], self.T[keep], self.below[:, keep]
            self.survivals = self.survivals[:, keep]
        self.k += 1
        if self.k == self.start + self.block:
            self.start, self.block = self.k, 2 * self.block
            self._fill()
        return self.survival()


def probability_of_purchases(params, n, t):
    """P(X(t) = n) for a customer just acquired (FH 2005 eq. 21 as the case x = t_x = T = 0
    of :func:`conditional_probability_of_purchases`); ``n`` and ``t`` broadcast."""
    t = check_times(t)
    n = np.asarray(n, dtype=float)
    if np.any((n < 0) | (n != np.round(n))):
        raise ValueError("n must be a whole number >= 0")
    return conditional_probability_of_purchases(params, n, t, 0.0, 0.0, 0.0)


def sample(params, T, random_state=None):
    """Draw (frequency, recency, T) histories from the Pareto/NBD generative process.

    lambda ~ Gamma(r, alpha), mu ~ Gamma(s, beta); the lifetime is Exponential(mu); the
    repeat purchases are a Poisson(lambda) process on (0, min(lifetime, T)], so their
    number is Poisson(lambda min(lifetime, T)) and, given N of them, the last is at
    min(lifetime, T) times the largest of N uniforms, i.e. times a Beta(N, 1) draw.

    Parameters
    ----------
    params : mapping
        ``r``, ``alpha``, ``s``, ``beta``.
    T : array-like
        Each customer's observation length, in the unit of ``alpha`` and ``beta``.
    random_state : int or numpy.random.Generator, optional

    Returns
    -------
    pandas.DataFrame
        Columns frequency, recency, T (continuous times).
    """
    r, alpha, s, beta = _unpack(params)
    rng = np.random.default_rng(random_state)
    T = np.asarray(T, dtype=float)
    rate = rng.gamma(r, 1.0 / alpha, size=T.shape)
    death_rate = rng.gamma(s, 1.0 / beta, size=T.shape)
    with np.errstate(divide="ignore"):
        lifetime = rng.exponential(1.0, size=T.shape) / death_rate
    active = np.minimum(lifetime, T)
    x = rng.poisson(rate * active)
    t_x = np.where(x > 0, active * rng.beta(np.maximum(x, 1), 1.0), 0.0)
    return pd.DataFrame({"frequency": x.astype(float), "recency": t_x, "T": T})


def sample_future_purchases(params, period_ends, x, t_x, T, random_state=None):
    """Draw each customer's purchases in consecutive future periods given the history.

    Alive at T with P(alive | history); if alive, lambda ~ Gamma(r + x, alpha + T) and
    mu ~ Gamma(s, beta + T) (the posterior given alive), the remaining lifetime is
    Exponential(mu) (memoryless), and purchases are a Poisson(lambda) process until it
    ends or the horizon does.

    Returns
    -------
    ndarray of int64, shape (customers, periods)
    """
    buyers, counts = sample_future_buyers(params, period_ends, x, t_x, T, random_state)
    dense = np.zeros((np.size(x), counts.shape[1]), dtype=np.int64)
    dense[buyers] = counts
    return dense


def sample_future_buyers(params, period_ends, x, t_x, T, random_state=None):
    """:func:`sample_future_purchases` for the customers who buy: their positions and
    their purchases per period (every other customer buys nothing). Latent rates are
    drawn for the customers alive at T only.

    Returns
    -------
    buyers : ndarray of int64
    counts : ndarray of int64, shape (len(buyers), periods)
    """
    r, alpha, s, beta = _unpack(params)
    rng = np.random.default_rng(random_state)
    x, t_x, T = (np.ravel(np.asarray(v, dtype=float)) for v in (x, t_x, T))
    ends = np.asarray(period_ends, dtype=float)
    living = np.flatnonzero(rng.random(x.shape) < probability_alive(params, x, t_x, T))
    r, alpha, s, beta = (v if np.ndim(v) == 0 else np.broadcast_to(v, x.shape)[living] for v in (r, alpha, s, beta))
    rate = rng.gamma(r + x[living], 1.0 / (alpha + T[living]))
    death_rate = rng.gamma(s, 1.0 / (beta + T[living]))
    with np.errstate(divide="ignore"):
        remaining = rng.exponential(1.0, size=living.shape) / death_rate
    span = np.minimum(remaining, ends[-1])
    total = rng.poisson(rate * span)
    buying = np.flatnonzero(total)
    return living[buying], spread_over_periods(total[buying], span[buying], ends, rng)


def mixing_distributions(params):
    """Purchase rate lambda ~ Gamma(r, alpha) and dropout rate mu ~ Gamma(s, beta) across
    customers (SMC 1987), both per unit of time."""
    from scipy import stats

    r, alpha, s, beta = _unpack(params)
    return {
        "purchase": Mixing(stats.gamma(r, scale=1.0 / alpha), f"Gamma(r = {r:.3g}, α = {alpha:.3g})",
                           "purchase rate while alive, λ", per_time=True),
        "dropout": Mixing(stats.gamma(s, scale=1.0 / beta), f"Gamma(s = {s:.3g}, β = {beta:.3g})",
                          "dropout rate, μ", per_time=True),
    }


def scale_dropout(params, factor):
    """Parameters whose mean dropout rate s / beta is ``factor`` times as large, with the
    shape s (the spread of mu relative to its mean) held fixed: beta / factor."""
    r, alpha, s, beta = _unpack(params)
    return {"r": r, "alpha": alpha, "s": s, "beta": beta / factor}


class ParetoNBDModel(TransactionModel):
    """Pareto/NBD model of repeat purchasing (Schmittlein, Morrison & Colombo 1987).

    While alive, a customer buys at Poisson rate lambda ~ Gamma(r, alpha); her lifetime
    is exponential with rate mu ~ Gamma(s, beta). Fitted by maximum likelihood with
    analytic derivatives; the hypergeometric part is summed as a positive series in
    log space, so heavy buyers and recency = T are handled (see
    :mod:`clvmodels.pareto_nbd`).

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
        Numeric columns whose coefficients g_d scale each customer's dropout rate by
        exp(g_d' z): beta_i = beta exp(-g_d' z_i).
    covariate_penalizer : float, default 0.0
        L2 penalty on the coefficients of the standardised covariates.

    Attributes
    ----------
    params_ : pandas.Series
        ``r``, ``alpha``, ``s``, ``beta`` (``alpha`` and ``beta`` in the data's time unit;
        with covariates: at covariates zero), then the coefficients ``purchase[z]`` and
        ``dropout[z]``.
    log_likelihood_ : float
        Total log-likelihood of the fitted data.
    time_unit_ : str or None
        Time unit of the fitted data.

    Examples
    --------
    >>> import clvmodels as clv
    >>> tx = clv.datasets.load_cdnow(sample=True)
    >>> rfm = clv.rfm_summary(tx, time_unit="W", observation_end="1997-09-30")
    >>> pn = clv.ParetoNBDModel().fit(rfm)
    >>> pn.params_.round(3).to_dict()
    {'r': 0.553, 'alpha': 10.578, 's': 0.606, 'beta': 11.668}
    """

    key = "pnbd"
    title = "Pareto/NBD"
    reference = "Schmittlein, Morrison & Colombo (1987), Management Science 33(1)"
    param_names = PARAMS
    rfm_columns = ("frequency", "recency", "T")
    time_params = ("alpha", "beta")
    time_columns = ("recency", "T")
    param_descriptions = {
        "r": "shape of the purchase-rate distribution (Gamma)",
        "alpha": "scale of the purchase-rate distribution (Gamma rate)",
        "s": "shape of the dropout-rate distribution (Gamma)",
        "beta": "scale of the dropout-rate distribution (Gamma rate)",
    }
    example_params = {"r": 0.55, "alpha": 10.0, "s": 0.6, "beta": 12.0}
    alive_state_columns = ("frequency", "T")  # given alive at T, the future depends on x and T only
    # Covariates (clvmodels._covariates; Fader & Hardie 2007, "Incorporating time-invariant
    # covariates into the Pareto/NBD and BG/NBD models", note 019, as in CLVTools):
    # alpha_i = alpha exp(-g_p' z_i) and beta_i = beta exp(-g_d' z_i), so the purchase
    # rate lambda and the dropout rate mu of a customer scale by exp(g_p' z) and exp(g_d' z).
    covariate_links = {"purchase": (("alpha", -1),), "dropout": (("beta", -1),)}
    covariate_quantities = {"alpha": "the purchase rate", "beta": "the dropout rate"}
    formulas = sys.modules[__name__]  # this module's functions (see clvmodels._families)
