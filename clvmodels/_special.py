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


# ----- series of positive terms for the Pareto/NBD model ------------------------------------
# The Pareto/NBD expressions need 2F1(a, b; c; z) with a, b, c > 0 and 0 <= z < 1. Written
# (by the caller, through Euler's transformation where that helps) so that every term of the
# Gauss series is positive, the sum has no cancellation: it is accurate to a few ulps once
# the bound on the remaining terms is below the tolerance. The number of terms grows like
# 1 / (1 - z); past ``max_terms`` the few elements left fall back to scipy's hyp2f1, whose
# own transformations handle z near 1.

_SERIES_TOLERANCE = 1e-17
_SERIES_MAX_TERMS = 20_000
_RESCALE_ABOVE = 1e250


def _fallback_log_hyp2f1(a, b, c, z):
    with np.errstate(all="ignore"):
        return np.log(special.hyp2f1(a, b, c, z))


def log_hyp2f1_positive(a, b, c, z, tol=_SERIES_TOLERANCE, max_terms=_SERIES_MAX_TERMS):
    """ln 2F1(a, b; c; z) for a, b, c > 0 and 0 <= z < 1, by the Gauss series.

    All terms are positive, so the sum is free of cancellation; the terms are rescaled
    when they grow large, so the logarithm is finite where 2F1 itself overflows. The
    series stops once the terms decrease and the geometric bound on the rest,
    term * R / (1 - R) with R = max(ratio, z), is below ``tol`` times the sum.

    Parameters
    ----------
    a, b, c, z : array-like
        Broadcast together.

    Returns
    -------
    ndarray
        Of the broadcast shape.
    """
    a, b, c, z = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (a, b, c, z)))
    shape = a.shape
    a, b, c, z = (v.ravel() for v in (a, b, c, z))
    result = np.empty(a.size)
    index = np.arange(a.size)
    term = np.ones(a.size)
    total = np.ones(a.size)
    offset = np.zeros(a.size)  # ln of the scale the running sums are divided by
    for j in range(max_terms):
        if index.size == 0:
            break
        ratio = (a + j) * (b + j) / ((c + j) * (j + 1.0)) * z
        term = term * ratio
        total = total + term
        following = (a + j + 1) * (b + j + 1) / ((c + j + 1) * (j + 2.0)) * z
        bound = np.maximum(following, z)
        done = (following < 1) & (term * bound < tol * total * (1 - bound))
        big = total > _RESCALE_ABOVE
        if np.any(big):
            term[big] /= _RESCALE_ABOVE
            total[big] /= _RESCALE_ABOVE
            offset[big] += np.log(_RESCALE_ABOVE)
        if np.any(done):
            result[index[done]] = np.log(total[done]) + offset[done]
            keep = ~done
            index, a, b, c, z, term, total, offset = (v[keep] for v in (index, a, b, c, z, term, total, offset))
    if index.size:
        result[index] = _fallback_log_hyp2f1(a, b, c, z)
    return result.reshape(shape)


def log_hyp2f1_one_b_c(b, c, z, order=0, tol=_SERIES_TOLERANCE, max_terms=_SERIES_MAX_TERMS):
    """ln 2F1(1, b; c; z) and, up to ``order`` 2, its derivatives w.r.t. (b, c, z), for
    0 < b < c and 0 <= z < 1.

    The series is sum_k (b)_k / (c)_k z^k: positive terms, each at most z times the one
    before (b < c), so the sum after term k is below term_k z / (1 - z); the series
    stops when that bound, widened for the derivative sums (whose weights grow at most
    linearly in k), is below ``tol`` times the sum. The derivatives are summed
    alongside: d ln[(b)_k / (c)_k] / db = sum_{i<k} 1 / (b + i), likewise for c with
    the opposite sign, and d z^k / dz = k z^(k-1); the second derivatives of the
    terms follow from these and sum_{i<k} 1 / (b + i)^2.

    Returns
    -------
    tuple of ndarray
        ``order`` 0: (ln F,); 1: (ln F, gradient) with gradient of shape (3, ...);
        2: (ln F, gradient, hessian) with hessian of shape (3, 3, ...); derivatives
        are those of ln F, in the order (b, c, z).
    """
    b, c, z = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (b, c, z)))
    shape = b.shape
    b, c, z = (v.ravel() for v in (b, c, z))
    size = b.size
    n_sums = (1, 4, 10)[order]
    # sums: value; b, c, z; bb, cc, bc, bz, cz, zz (raw sums of term x weight)
    sums_out = np.ones((n_sums, size))
    index = np.arange(size)
    term = np.ones(size)  # (b)_k / (c)_k z^k
    sums = np.zeros((n_sums, size))
    sums[0] = 1.0
    hb, hc, hb2, hc2 = np.zeros(size), np.zeros(size), np.zeros(size), np.zeros(size)
    term_z1 = np.zeros(size)  # (b)_k / (c)_k z^(k-1)
    margin = 1.0 / (1.0 - z)
    for k in range(1, max_terms + 1):
        if index.size == 0:
            break
        step = (b + (k - 1)) / (c + (k - 1))
        if order:
            term_z2 = term_z1 * step  # (b)_k / (c)_k z^(k-2), for k >= 2
            term_z1 = term * step
            inv_b, inv_c = 1.0 / (b + (k - 1)), 1.0 / (c + (k - 1))
            hb = hb + inv_b
            hc = hc + inv_c
        term = term * step * z
        sums[0] += term
        if order:
            sums[1] += term * hb
            sums[2] += term * hc
            sums[3] += k * term_z1
        if order == 2:
            hb2 = hb2 + inv_b * inv_b
            hc2 = hc2 + inv_c * inv_c
            sums[4] += term * (hb * hb - hb2)
            sums[5] += term * (hc * hc + hc2)
            sums[6] += term * (hb * hc)
            sums[7] += (k * hb) * term_z1
            sums[8] += (k * hc) * term_z1
            sums[9] += (k * (k - 1.0)) * term_z2
        if k % 4 and k > 1:
            continue
        rest = term * z * margin * (1.0 + hb + hc + (k + 2) * margin)
        done = rest < tol * sums[0]
        if np.any(done):
            sums_out[:, index[done]] = sums[:, done]
            keep = ~done
            index, b, c, z, margin, term, term_z1, hb, hc, hb2, hc2 = (
                v[keep] for v in (index, b, c, z, margin, term, term_z1, hb, hc, hb2, hc2)
            )
            sums = sums[:, keep]
    total = sums_out[0]
    log_value = np.log(total)
    if index.size:
        fallback = _fallback_log_hyp2f1_derivatives(b, c, z, order)
    if order == 0:
        if index.size:
            log_value[index] = fallback[0]
        return (log_value.reshape(shape),)
    grad = sums_out[1:4] / total
    grad[1] = -grad[1]
    if index.size:
        log_value[index], grad[:, index] = fallback[0], fallback[1]
    if order == 1:
        return log_value.reshape(shape), grad.reshape((3,) + shape)
    second = sums_out[4:] / total
    hess = np.empty((3, 3, size))
    d_b, d_c, d_z = grad
    hess[0, 0] = second[0] - d_b * d_b
    hess[1, 1] = second[1] - d_c * d_c
    hess[0, 1] = hess[1, 0] = -second[2] - d_b * d_c
    hess[0, 2] = hess[2, 0] = second[3] - d_b * d_z
    hess[1, 2] = hess[2, 1] = -second[4] - d_c * d_z
    hess[2, 2] = second[5] - d_z * d_z
    if index.size:
        hess[:, :, index] = fallback[2]
    return log_value.reshape(shape), grad.reshape((3,) + shape), hess.reshape((3, 3) + shape)


def _fallback_log_hyp2f1_derivatives(b, c, z, order, step=1e-5):
    """ln 2F1(1, b; c; z) from scipy and its derivatives by central differences (relative
    steps), for the few elements whose series would be too long (z very near 1)."""
    point = np.array([b, c, z], dtype=float)
    scale = np.array([b, c, np.maximum(1 - z, 1e-300) * np.minimum(z, 1.0)]) * step
    scale[2] = np.where(scale[2] > 0, scale[2], step)

    def at(shift):
        args = point + shift
        return _fallback_log_hyp2f1(1.0, args[0], args[1], args[2])

    value = at(0.0)
    grad = np.empty((3,) + value.shape)
    hess = np.empty((3, 3) + value.shape)
    unit = np.eye(3)[:, :, None] * scale[None, :, :] if value.ndim else np.eye(3) * scale
    for i in range(3):
        plus, minus = at(unit[i]), at(-unit[i])
        grad[i] = (plus - minus) / (2 * scale[i])
        hess[i, i] = (plus - 2 * value + minus) / scale[i] ** 2
        for j in range(i):
            mixed = (at(unit[i] + unit[j]) - at(unit[i] - unit[j]) - at(unit[j] - unit[i]) + at(-unit[i] - unit[j]))
            hess[i, j] = hess[j, i] = mixed / (4 * scale[i] * scale[j])
    return value, grad, hess


_POLYNOMIAL_MAX_TERMS = 64
_POLYNOMIAL_BLOCK = 16_384


def log_hyp2f1_one_b_c_grouped(b, c, z, starts, order=0, tol=_SERIES_TOLERANCE, max_terms=_SERIES_MAX_TERMS):
    """:func:`log_hyp2f1_one_b_c` for elements in contiguous groups sharing b and c.

    ``b`` and ``c`` hold one value per group, ``z`` one per element, ``starts`` the
    index of each group's first element (groups in order, as for ``np.add.reduceat``).
    The series' coefficients (b)_k / (c)_k and their derivatives depend on the group
    only, so every sum is a polynomial in z: the coefficients are built once per group
    and each group's elements are evaluated with one matrix product against the powers
    of z. The number of terms is fixed a priori from the largest z (each term is at most
    z times the one before); when that exceeds 64 the element-wise series is used (with
    ``max_terms``).

    Returns
    -------
    tuple of ndarray
        As :func:`log_hyp2f1_one_b_c` for the flat array of elements.
    """
    b, c, z = (np.asarray(v, dtype=float) for v in (b, c, z))
    starts = np.asarray(starts, dtype=np.int64)
    sizes = np.diff(np.append(starts, z.size))
    z_max = float(np.max(z)) if z.size else 0.0
    if z_max > 0:
        margin = 1.0 / (1.0 - z_max)
        # term_K <= z^K; the bound of log_hyp2f1_one_b_c with harmonic sums below 1e3.
        n_terms = int(np.ceil(np.log(tol / (z_max * margin * 2e3 * margin)) / np.log(z_max))) + 2
    else:
        n_terms = 3
    if n_terms > _POLYNOMIAL_MAX_TERMS:
        return log_hyp2f1_one_b_c(np.repeat(b, sizes), np.repeat(c, sizes), z, order=order, tol=tol, max_terms=max_terms)
    k = np.arange(n_terms, dtype=float)
    # Per group: p_k = (b)_k / (c)_k and the harmonic sums over i < k.
    shifted_b = b[:, None] + k[None, :-1]
    shifted_c = c[:, None] + k[None, :-1]
    p = np.ones((b.size, n_terms))
    p[:, 1:] = np.cumprod(shifted_b / shifted_c, axis=1)
    coefficients = [p]
    if order:
        hb = np.zeros_like(p)
        hc = np.zeros_like(p)
        hb[:, 1:] = np.cumsum(1.0 / shifted_b, axis=1)
        hc[:, 1:] = np.cumsum(1.0 / shifted_c, axis=1)
        kp = k * p  # coefficient of z^(k-1) in the z-derivative

        def lowered(values):  # coefficient of z^k -> of z^(k-1)
            out = np.zeros_like(values)
            out[:, :-1] = values[:, 1:]
            return out

        coefficients += [p * hb, p * hc, lowered(kp)]
    if order == 2:
        hb2 = np.zeros_like(p)
        hc2 = np.zeros_like(p)
        hb2[:, 1:] = np.cumsum(1.0 / shifted_b**2, axis=1)
        hc2[:, 1:] = np.cumsum(1.0 / shifted_c**2, axis=1)
        second = np.zeros_like(p)
        second[:, :-2] = (k * (k - 1) * p)[:, 2:]
        coefficients += [
            p * (hb * hb - hb2), p * (hc * hc + hc2), p * hb * hc, lowered(kp * hb), lowered(kp * hc), second,
        ]
    coefficients = np.stack(coefficients, axis=1)  # (groups, sums, terms)
    sums = np.empty((coefficients.shape[1], z.size))
    powers = np.empty((n_terms, min(_POLYNOMIAL_BLOCK, max(z.size, 1))))
    group = np.repeat(np.arange(b.size), sizes)
    ends = starts + sizes
    for first in range(0, z.size, _POLYNOMIAL_BLOCK):
        last = min(first + _POLYNOMIAL_BLOCK, z.size)
        block = powers[:, : last - first]
        block[0] = 1.0
        for j in range(1, n_terms):
            np.multiply(block[j - 1], z[first:last], out=block[j])
        for g in range(group[first], group[last - 1] + 1):
            lo, hi = max(starts[g], first), min(ends[g], last)
            if hi > lo:
                sums[:, lo:hi] = coefficients[g] @ block[:, lo - first: hi - first]
    total = sums[0]
    log_value = np.log(total)
    if order == 0:
        return (log_value,)
    grad = sums[1:4] / total
    grad[1] = -grad[1]
    if order == 1:
        return log_value, grad
    second = sums[4:] / total
    d_b, d_c, d_z = grad
    hess = np.empty((3, 3, z.size))
    hess[0, 0] = second[0] - d_b * d_b
    hess[1, 1] = second[1] - d_c * d_c
    hess[0, 1] = hess[1, 0] = -second[2] - d_b * d_c
    hess[0, 2] = hess[2, 0] = second[3] - d_b * d_z
    hess[1, 2] = hess[2, 1] = -second[4] - d_c * d_z
    hess[2, 2] = second[5] - d_z * d_z
    return log_value, grad, hess


# Tabulated Beta expectations (beta_expectation_tabulated): nodes per standard deviation
# of the logit, largest step, tail cut-off (the density is below e^-_TAIL_LOG of its mode
# beyond the window), customers per block of the density matrix and the largest grid.
_TABLE_STEPS_PER_SD = 3.0
_TABLE_MAX_STEP = 0.3
_TABLE_HALF_WIDTH_SD = 12.0
_TABLE_TAIL_LOG = 34.0
_TABLE_BLOCK_PRODUCT = 200_000  # rows x nodes x coefficients of a block's matrix product
_TABLE_MAX_NODES = 4096
_TABLE_LOG_FLOOR = -500.0  # densities below e^-500 of the mode are raised to it: a negligible weight


def beta_expectation_tabulated(integrand, a, b, y, *, low=None, width=0.5, n_nodes=12, tolerance=1e-13):
    """E[integrand(p, y_i)] for p ~ Beta(a_i, b_i), for many entries sharing one integrand.

    ``integrand(p, one_minus_p, ys)`` -> array (len(p), len(ys)) must be positive and
    analytic in ``y`` within |Im y| < pi (e.g. a function of ln s, as the BG/NBD
    expectation). The expectation is the trapezoidal rule in theta = logit p of
    :func:`beta_expectation`, on one grid shared by every entry: steps sd / 3 (at most
    0.3) over the union of the entries' windows, +-max(12 sd, 34 / shape) around the
    mode (the density's tails decay at rates a and b, so it also holds for shapes
    below 1), extended down to ``low`` per entry. The integrand is evaluated only on
    that grid, at the Chebyshev points of pieces of ``y`` at most ``width`` long (as
    :func:`smooth_by_group`), and interpolated to each entry's y: an entry then costs
    one exponential per node and a matrix product, however costly the integrand.
    Each piece is checked at three points between Chebyshev points at every node of
    the grid; entries of a piece whose relative error exceeds ``tolerance``, or of a
    grid of more than 4096 nodes, are left out.

    Returns
    -------
    values, ok : ndarray, ndarray of bool
        The expectations, and where they were computed (NaN elsewhere).
    """
    a, b, y = (np.asarray(v, dtype=float).ravel() for v in (a, b, y))
    values = np.full(len(a), np.nan)
    if len(a) == 0:
        return values, np.zeros(0, dtype=bool)
    mode = np.log(a) - np.log(b)
    sd = np.sqrt(1 / a + 1 / b)
    left = mode - np.maximum(_TABLE_HALF_WIDTH_SD * sd, (_TABLE_TAIL_LOG + np.maximum(0.0, -np.log(a))) / a)
    if low is not None:
        left = np.minimum(left, np.broadcast_to(np.asarray(low, dtype=float), a.shape))
    right = mode + np.maximum(_TABLE_HALF_WIDTH_SD * sd, (_TABLE_TAIL_LOG + np.maximum(0.0, -np.log(b))) / b)
    step = min(float(sd.min()) / _TABLE_STEPS_PER_SD, _TABLE_MAX_STEP)
    first, last = float(left.min()), float(right.max())
    count = int(np.ceil((last - first) / step)) + 1
    if not np.isfinite(count) or count > _TABLE_MAX_NODES:
        return values, np.zeros(len(a), dtype=bool)
    theta = first + step * np.arange(count)
    p, q, log_q = special.expit(theta), special.expit(-theta), -np.logaddexp(0.0, theta)

    # Pieces of y and the integrand at their Chebyshev points (then three check points).
    y_low, y_high = float(y.min()), float(y.max())
    pieces = max(1, int(np.ceil((y_high - y_low) / width)))
    piece_width = max((y_high - y_low) / pieces, 1e-12)
    nodes = np.cos(np.pi * (np.arange(n_nodes) + 0.5) / n_nodes)
    checks = np.array([-0.995, 0.0013, 0.9913])
    unit = np.concatenate([nodes, checks])
    piece_low = y_low + piece_width * np.arange(pieces)
    where = (piece_low[:, None] + (unit[None, :] + 1) / 2 * piece_width).ravel()
    table = integrand(p, q, where).reshape(count, pieces, len(unit))
    cosines = np.cos(np.pi * np.outer(np.arange(n_nodes), np.arange(n_nodes) + 0.5) / n_nodes)
    coefficients = table[:, :, :n_nodes] @ cosines.T * (2.0 / n_nodes)  # node x piece x degree
    coefficients[:, :, 0] /= 2
    at_checks = np.cos(np.outer(np.arccos(checks), np.arange(n_nodes)))  # T_k at the check points
    interpolated = coefficients @ at_checks.T
    exact = table[:, :, n_nodes:]
    with np.errstate(divide="ignore", invalid="ignore"):
        error = np.abs(interpolated - exact) / np.abs(exact)
    good = np.all(np.isfinite(table), axis=(0, 2)) & np.all(error <= tolerance, axis=(0, 2))

    piece = np.clip(((y - y_low) / piece_width).astype(np.int64), 0, pieces - 1)
    u = np.clip(2 * (y - piece_low[piece]) / piece_width - 1, -1.0, 1.0)
    ok = good[piece]
    # Blocks of entries with nearby windows (sorted by piece, then by window), each
    # summed over the part of the grid its windows span.
    key = piece * (count + 1) + np.floor((left - first) / step).astype(np.int64)
    order = np.argsort(key)
    order = order[ok[order]]
    if not len(order):
        return values, ok
    span = int(np.ceil(np.median(right - left) / step)) + 1
    # Blocks small enough that BLAS multiplies them on one thread (threads cost more than they gain here).
    block = max(16, _TABLE_BLOCK_PRODUCT // (span * (n_nodes + 1)))
    sorted_piece = piece[order]
    run_starts = np.flatnonzero(np.diff(sorted_piece, prepend=-1))
    run_ends = np.append(run_starts[1:], len(order))
    starts = np.concatenate([np.arange(s0, s1, block) for s0, s1 in zip(run_starts, run_ends)])
    lows = np.floor((np.minimum.reduceat(left[order], starts) - first) / step).astype(np.int64).clip(0, count)
    highs = (np.ceil((np.maximum.reduceat(right[order], starts) - first) / step).astype(np.int64) + 1).clip(0, count)
    ends = np.append(starts[1:], len(order))
    # Per entry (in sorted order): ln density = a theta + (a + b) ln(1 - p) + constant, whose
    # constant puts the mode at 0; and the Chebyshev polynomials at the entry's y.
    A, B, M = a[order], b[order], mode[order]
    total = A + B
    shape = np.stack([A, total, total * np.logaddexp(0.0, M) - A * M], axis=1)
    chebyshev = _chebyshev_columns(u[order], n_nodes)
    with_ones = np.concatenate([coefficients, np.ones((count, pieces, 1))], axis=2)
    by_piece = {int(k): np.ascontiguousarray(with_ones[:, k, :]) for k in np.unique(sorted_piece)}
    grid = np.stack([theta, log_q, np.ones(count)])
    workspace = np.empty(block * count)
    result = np.empty(len(order))
    for s0, s1, lo, hi in zip(starts, ends, lows, highs):
        result[s0:s1] = _tabulated_sum(grid[:, lo:hi], by_piece[int(sorted_piece[s0])][lo:hi], shape[s0:s1],
                                       chebyshev[s0:s1], workspace)
    values[order] = result
    return values, ok


def _chebyshev_columns(u, n_nodes):
    """T_0(u), ..., T_{n-1}(u) per entry (rows), by the three-term recurrence."""
    rows = np.empty((n_nodes, len(u)))  # each polynomial contiguous while it is computed
    rows[0] = 1.0
    if n_nodes > 1:
        rows[1] = u
    twice = 2 * u
    for k in range(2, n_nodes):
        np.multiply(twice, rows[k - 1], out=rows[k])
        rows[k] -= rows[k - 2]
    return rows.T


def _tabulated_sum(grid, coefficients, shape, chebyshev, workspace):
    """The trapezoidal sums of :func:`beta_expectation_tabulated` for one block.

    ``grid`` holds the rows theta, ln(1 - p) and 1 at the block's nodes, ``shape``
    the columns a, a + b and the constant of each entry's ln density;
    ``coefficients`` the Chebyshev coefficients at the nodes and a last column of
    ones (so the last moment is the sum of the density). The density is computed in
    ``workspace`` (reused: fresh memory is slow to touch).
    """
    density = workspace[: len(shape) * grid.shape[1]].reshape(len(shape), grid.shape[1])
    np.matmul(shape, grid, out=density)
    np.maximum(density, _TABLE_LOG_FLOOR, out=density)  # no subnormal numbers (slow) further on
    np.exp(density, out=density)
    moments = density @ coefficients
    return np.einsum("ij,ij->i", moments[:, :-1], chebyshev) / moments[:, -1]
