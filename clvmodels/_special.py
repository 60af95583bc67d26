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
