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
    a and b >= 1, and both it and a ``func`` analytic off the cut (-inf, -1/s]
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


# Stirling series of ln Gamma(y) - [(y - 1/2) ln y - y + ln(2 pi)/2], for y >= 30
# (its next term is below 1e-19 there).
_STIRLING = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360)
_STIRLING_FROM = 30.0


def _stirling_correction(y):
    inverse = 1.0 / y
    square = inverse * inverse
    total = np.zeros_like(y)
    for coefficient in reversed(_STIRLING):
        total = total * square + coefficient
    return total * inverse


def log_pochhammer(x, k):
    """ln Gamma(x + k) - ln Gamma(x) for x > 0, k >= 0, accurate to ~1e-15 relative even
    where both log-gammas are huge (``gammaln`` differences lose eps * x ln x there).

    For x >= 30 it is (x - 1/2) ln(1 + k/x) + k ln(x + k) - k + the difference of the
    Stirling corrections; below, the difference of ``gammaln`` (both terms small).
    """
    x, k = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(k, dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        direct = special.gammaln(x + k) - special.gammaln(x)
        large = np.maximum(x, _STIRLING_FROM)
        stirling = (
            (large - 0.5) * np.log1p(k / large) + k * np.log(large + k) - k
            + _stirling_correction(large + k) - _stirling_correction(large)
        )
    value = np.where(x >= _STIRLING_FROM, stirling, direct)
    return value if value.ndim else float(value)


def log_beta_ratio(a, b, shift):
    """ln B(a, b + shift) - ln B(a, b), accurate for any sizes: as Pochhammer ratios in
    ``shift`` (ln G(b+shift) - ln G(b) - [ln G(a+b+shift) - ln G(a+b)]) when shift <= a,
    else in ``a`` (ln G(a+b) - ln G(b) - [ln G(a+b+shift) - ln G(b+shift)]), so the
    log-gammas that cancel are always those of the smaller increment."""
    a, b, shift = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (a, b, shift)))
    in_shift = log_pochhammer(b, shift) - log_pochhammer(a + b, shift)
    in_a = log_pochhammer(b, a) - log_pochhammer(b + shift, a)
    value = np.where(shift <= a, in_shift, in_a)
    return value if value.ndim else float(value)


def smooth_by_group(func, group, y, *, log=False, width=2.0, n_nodes=16, tolerance=1e-13, min_points=256):
    """``func(group, y)`` for every point, interpolating where many points share a group.

    ``func(groups, ys)`` is a vectorised function, analytic in ``y`` within a strip
    |Im y| < pi around the real axis (e.g. a function of ln s for the BG/NBD
    expectation, whose only singularities are where s is negative). For each group
    with at least ``min_points`` points, [min y, max y] is cut into pieces at most
    ``width`` long and ``func`` (or its log, with ``log=True``) is interpolated on
    ``n_nodes`` Chebyshev points of each piece: the error falls like rho^-n with
    rho = pi/(width/2) + sqrt(1 + (pi/(width/2))^2) ~ 6.4, i.e. ~1e-13 at 16 nodes. Each
    piece is checked at three points between nodes against ``func`` itself, and the
    points of a piece whose relative error exceeds ``tolerance`` are evaluated
    directly, so the result is ``func`` to ``tolerance`` whatever ``func`` is.

    Parameters
    ----------
    func : callable
    group : ndarray of int
        Group code of each point (0..k-1).
    y : ndarray of float

    Returns
    -------
    ndarray, like ``y``
    """
    group, y = np.asarray(group), np.asarray(y, dtype=float)
    out = np.empty(y.shape)
    if len(y) == 0:
        return out
    n_groups = int(group.max()) + 1
    size = np.bincount(group, minlength=n_groups)
    low, high = _group_range(group, y, n_groups)
    smooth = (size >= min_points) & (high - low > 1e-9)
    direct = ~smooth[group]
    if np.any(direct):
        out[direct] = func(group[direct], y[direct])
    if not np.any(smooth):
        return out
    groups = np.flatnonzero(smooth)
    pieces = np.maximum(1, np.ceil((high[groups] - low[groups]) / width)).astype(np.int64)
    piece_group = np.repeat(groups, pieces)
    first_piece = np.zeros(n_groups, dtype=np.int64)
    first_piece[groups] = np.cumsum(pieces) - pieces
    piece_width = np.repeat((high[groups] - low[groups]) / pieces, pieces)
    piece_low = np.repeat(low[groups], pieces) + (np.arange(len(piece_group)) - np.repeat(first_piece[groups], pieces)) * piece_width
    # Chebyshev points of the first kind, then three check points between nodes.
    nodes = np.cos(np.pi * (np.arange(n_nodes) + 0.5) / n_nodes)
    checks = np.array([-0.995, 0.0013, 0.9913])
    unit = np.concatenate([nodes, checks])
    where = piece_low[:, None] + (unit[None, :] + 1) / 2 * piece_width[:, None]
    values = func(np.repeat(piece_group, len(unit)), where.ravel()).reshape(where.shape)
    if log:
        with np.errstate(divide="ignore", invalid="ignore"):
            values = np.log(values)
    cosines = np.cos(np.pi * np.outer(np.arange(n_nodes), np.arange(n_nodes) + 0.5) / n_nodes)
    coefficients = values[:, :n_nodes] @ cosines.T * (2.0 / n_nodes)
    coefficients[:, 0] /= 2
    check_value = _clenshaw(coefficients, np.repeat(np.arange(len(piece_group)), 3), np.tile(checks, len(piece_group)))
    exact = values[:, n_nodes:].ravel()
    if log:
        error = np.abs(np.expm1(check_value - exact))
    else:
        error = np.abs(check_value - exact) / np.maximum(np.abs(exact), 1e-300)
    good_piece = np.all((error <= tolerance).reshape(-1, 3), axis=1) & np.all(np.isfinite(values), axis=1)
    points = np.flatnonzero(~direct)
    g = group[points]
    piece_count = np.zeros(n_groups, dtype=np.int64)
    piece_count[groups] = pieces
    index = ((y[points] - low[g]) / piece_width[first_piece[g]]).astype(np.int64)
    piece = first_piece[g] + np.clip(index, 0, piece_count[g] - 1)
    u = np.clip(2 * (y[points] - piece_low[piece]) / piece_width[piece] - 1, -1.0, 1.0)
    ok = good_piece[piece]
    value = _clenshaw(coefficients, piece[ok], u[ok])
    out[points[ok]] = np.exp(value) if log else value
    if not np.all(ok):
        bad = points[~ok]
        out[bad] = func(group[bad], y[bad])
    return out


def _group_range(group, y, n_groups):
    """Smallest and largest ``y`` of each group (inf / -inf for empty groups)."""
    import pandas as pd

    frame = pd.Series(y).groupby(group, sort=False).agg(["min", "max"])
    low = np.full(n_groups, np.inf)
    high = np.full(n_groups, -np.inf)
    low[frame.index.to_numpy()] = frame["min"].to_numpy()
    high[frame.index.to_numpy()] = frame["max"].to_numpy()
    return low, high


def _clenshaw(coefficients, piece, u):
    """sum_k coefficients[piece, k] T_k(u), per point, by Clenshaw's recurrence."""
    columns = np.ascontiguousarray(coefficients.T)
    b1 = np.zeros(len(u))
    b2 = np.zeros(len(u))
    scratch = np.empty(len(u))
    twice_u = 2 * u
    for k in range(columns.shape[0] - 1, 0, -1):
        np.multiply(twice_u, b1, out=scratch)
        scratch -= b2
        scratch += columns[k].take(piece)
        b1, b2, scratch = scratch, b1, b2
    np.multiply(u, b1, out=scratch)
    scratch -= b2
    scratch += columns[0].take(piece)
    return scratch


# Asymptotic series of digamma(y) - ln y + 1/(2y), in powers of 1/y^2, for y >= 30.
_DIGAMMA = (-1 / 12, 1 / 120, -1 / 252, 1 / 240, -1 / 132, 691 / 32760)


def _digamma_tail(y):
    square = 1.0 / (y * y)
    total = np.zeros_like(y)
    for coefficient in reversed(_DIGAMMA):
        total = total * square + coefficient
    return total * square


def digamma_difference(y, x):
    """digamma(y + x) - digamma(y) for y > 0, x >= 0 (the derivative of
    :func:`log_pochhammer` in ``y`` is this), accurate where both digammas are large and
    nearly equal: their difference loses eps ln(y) / (x / y) relative there."""
    y, x = np.broadcast_arrays(np.asarray(y, dtype=float), np.asarray(x, dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        direct = special.digamma(y + x) - special.digamma(y)
        large = np.maximum(y, _STIRLING_FROM)
        series = (
            np.log1p(x / large) - 0.5 / (large + x) + 0.5 / large
            + _digamma_tail(large + x) - _digamma_tail(large)
        )
    value = np.where(y >= _STIRLING_FROM, series, direct)
    return value if value.ndim else float(value)
