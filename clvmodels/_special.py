"""Special functions with the numerical care the models need."""

import numpy as np
from scipy import special

_C_NUDGE = 1e-9


def hyp2f1(a, b, c, z):
    """Gauss hypergeometric function 2F1(a, b; c; z) for z in [0, 1), never inf or NaN
    where the series converges.

    ``scipy.special.hyp2f1`` returns inf when c - a - b is an exact integer and z is
    near 1 (e.g. 2F1(1, 1; 101; 0.95), which is 1.0096). The function is smooth in c,
    so those entries are recomputed as the mean of c (1 -+ 1e-9), accurate to ~1e-15.
    """
    value = np.asarray(special.hyp2f1(a, b, c, z), dtype=float)
    bad = ~np.isfinite(value)
    if np.any(bad):
        a, b, c, z = (np.broadcast_to(v, value.shape)[bad] for v in (a, b, c, z))
        fixed = (special.hyp2f1(a, b, c * (1 + _C_NUDGE), z) + special.hyp2f1(a, b, c * (1 - _C_NUDGE), z)) / 2
        value = value.copy()
        value[bad] = fixed
    return value if value.ndim else float(value)



# Trapezoidal rule in the logit of a Beta variable (see beta_expectation): steps per
# standard deviation of the logit (and at most _MAX_STEP), and the half-width covered
# around the mode, in standard deviations.
_STEPS_PER_SD = 3.0
_MAX_STEP = 0.5
_HALF_WIDTH_SD = 36.0
_NODE_COUNTS = (128, 256, 512, 1024, 2048, 4096)
_CHUNK_ENTRIES = 1 << 20


def beta_expectation(func, a, b, reach=None):
    """E[func(p)] for p ~ Beta(a, b) with a, b >= 1, elementwise over arrays ``a``, ``b``.

    ``func(p, one_minus_p, rows)`` evaluates the integrand at nodes ``p`` (2-d, one row
    per entry of the flattened ``a``; ``one_minus_p`` is 1 - p without cancellation,
    ``rows`` indexes the entries) and must accept p = 0 and p = 1.

    The expectation is a trapezoidal rule in theta = logit p, where the Beta density,
    exp(a theta) / (1 + e^theta)^(a + b), is log-concave with tails decaying at rates
    a and b >= 1, and both it and a ``func`` analytic in the cut plane C \ (-inf, -1/s]
    are analytic in a strip |Im theta| < pi. The rule then converges geometrically in
    the number of nodes (error ~ exp(-2 pi^2 / step)), for any shapes from 1 to 1e300:
    nodes are spaced sd / 3 (at most 0.5) over +-36 sd of the logit around its mode,
    sd = sqrt(1/a + 1/b), normalised by the rule's own integral of the density.
    ``reach`` (per entry, optional) extends the nodes down to that logit, for
    integrands that grow towards p = 0 as fast as the density decays there.

    Returns
    -------
    ndarray of the broadcast shape of ``a`` and ``b``.
    """
    a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    shape = a.shape
    a, b = a.ravel(), b.ravel()
    mode = np.log(a) - np.log(b)
    sd = np.sqrt(1 / a + 1 / b)
    low, high = mode - _HALF_WIDTH_SD * sd, mode + _HALF_WIDTH_SD * sd
    if reach is not None:
        low = np.minimum(low, np.broadcast_to(np.asarray(reach, dtype=float), shape).ravel())
    step = np.minimum(sd / _STEPS_PER_SD, _MAX_STEP)
    needed = (high - low) / step + 1
    sizes = np.searchsorted(np.asarray(_NODE_COUNTS), needed)
    out = np.empty(a.shape)
    for k in np.unique(sizes):
        n_nodes = _NODE_COUNTS[min(k, len(_NODE_COUNTS) - 1)]
        rows = np.flatnonzero(sizes == k)
        per_chunk = max(1, _CHUNK_ENTRIES // n_nodes)
        grid = np.linspace(0.0, 1.0, n_nodes)
        for start in range(0, len(rows), per_chunk):
            part = rows[start:start + per_chunk]
            lo, hi = low[part, None], high[part, None]
            theta = lo + (hi - lo) * grid
            out[part] = _trapezoid(func, a[part, None], b[part, None], theta, mode[part, None], part)
    return out.reshape(shape)


def _trapezoid(func, a, b, theta, mode, rows):
    delta = theta - mode
    mean = a / (a + b)
    # log density relative to the mode: a delta - (a + b) ln((1 + e^theta) / (1 + e^mode))
    log_density = a * delta - (a + b) * np.log1p(mean * np.expm1(delta))
    weight = np.exp(log_density - log_density.max(axis=1, keepdims=True))
    values = func(special.expit(theta), special.expit(-theta), rows)
    return np.einsum("ij,ij->i", weight, values) / weight.sum(axis=1)
