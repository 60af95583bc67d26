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
