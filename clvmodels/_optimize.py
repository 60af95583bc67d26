"""Maximum likelihood over log-parameters: damped Newton, with a fallback cascade.

A model supplies ``derivatives(params, prepared, order)`` returning the weighted
total log-likelihood and, for ``order`` >= 1 and 2, its gradient and Hessian with
respect to the natural parameters (the Hessian may be None, and is then taken by
central differences of the gradient). Everything here works on log-parameters, so
parameters stay positive without bounds.
"""

import numpy as np

from .exceptions import ConvergenceError

# A fit is converged when the gradient of the mean log-likelihood (per customer)
# with respect to the log-parameters is below this.
GRADIENT_TOLERANCE = 1e-5
LOG_PARAM_LIMIT = 40.0
_MAX_NEWTON_STEP = 5.0


class Objective:
    """Mean negative log-likelihood over log-parameters, plus an optional L2 penalty.

    The penalty ``penalizer * sum((params * penalty_scale)**2)`` is lifetimes'
    ``penalizer_coef``, which applies to parameters in rescaled time units.
    """

    def __init__(self, derivatives, prepared, total_weight, penalizer, penalty_scale=1.0):
        self.derivatives = derivatives
        self.prepared = prepared
        self.total = float(total_weight)
        self.penalizer = penalizer
        self.penalty_weight = penalizer * np.asarray(penalty_scale, dtype=float) ** 2

    def evaluate(self, log_params, order=2):
        """Objective value and, up to ``order``, gradient and Hessian in log-parameters."""
        log_params = np.clip(log_params, -LOG_PARAM_LIMIT, LOG_PARAM_LIMIT)
        params = np.exp(log_params)
        with np.errstate(all="ignore"):
            ll, grad, hess = self.derivatives(params, self.prepared, order)
            value = -ll / self.total + np.sum(self.penalty_weight * params**2)
            if not np.isfinite(value):
                return np.inf, None, None
            if order == 0:
                return value, None, None
            gradient = -grad * params / self.total + 2 * self.penalty_weight * params**2
            if order == 1:
                return value, gradient, None
            if hess is None:
                return value, gradient, self._numeric_hessian(log_params)
            hessian = -(hess * np.outer(params, params) + np.diag(grad * params)) / self.total
            hessian += np.diag(4 * self.penalty_weight * params**2)
        return value, gradient, hessian

    def log_likelihood(self, log_params, value):
        """The total log-likelihood at ``log_params`` given the objective ``value`` there."""
        return -(value - np.sum(self.penalty_weight * np.exp(2 * log_params))) * self.total

    def value_and_gradient(self, log_params):
        """For scipy.optimize.minimize(jac=True); an undefined point is +inf, gradient 0."""
        value, gradient, _ = self.evaluate(log_params, order=1)
        if not np.isfinite(value) or gradient is None or not np.all(np.isfinite(gradient)):
            return np.inf, np.zeros_like(log_params)
        return value, gradient

    def _numeric_hessian(self, log_params, step=1e-5):
        k = len(log_params)
        hess = np.empty((k, k))
        for i in range(k):
            shift = np.zeros(k)
            shift[i] = step
            hess[i] = (self.evaluate(log_params + shift, 1)[1] - self.evaluate(log_params - shift, 1)[1]) / (2 * step)
        return (hess + hess.T) / 2


def newton(objective, log_params, max_steps=100):
    """Damped Newton steps with a backtracking line search, polished to rounding level.

    Where the Hessian is not positive definite (far from the optimum) it is shifted
    until it is, which turns the step towards steepest descent. Once the Newton
    decrement shows the point is within about 1e-4 of the optimum (the quadratic
    region), :func:`_polish` finishes with gradient-only steps until the step is at
    rounding level: then the estimate is the optimum of the data to ~1e-14, not
    wherever a tolerance happened to stop, so data that differ in the last bit (sums
    added in another order) give the same fit to ~1e-13 whatever the path.
    """
    value, grad, hess = objective.evaluate(log_params)
    steps = 0
    while steps < max_steps and np.isfinite(value) and np.all(np.isfinite(hess)):
        if np.max(np.abs(grad)) < 1e-10:
            return _polish(objective, log_params, value, grad, hess, steps)
        direction = _newton_direction(grad, hess)
        slope = float(grad @ direction)
        scale = max(1.0, abs(value))
        if -slope < 1e-15 * scale:
            # Nothing left to gain along the Newton direction: the optimum, or a ridge
            # running off to the boundary (left to the caller when the gradient is large).
            return _polish(objective, log_params, value, grad, hess, steps)
        if -slope < 1e-10 * scale:
            final_value, final_grad, _ = objective.evaluate(log_params + direction, order=1)
            if final_value <= value + 1e-13 * scale and np.max(np.abs(final_grad)) <= np.max(np.abs(grad)):
                return _polish(objective, log_params + direction, final_value, final_grad, hess, steps + 1)
        # The full step usually succeeds near the optimum: take its derivatives at once.
        candidate = log_params + direction
        candidate_value, candidate_grad, candidate_hess = objective.evaluate(candidate)
        size = 1.0
        while not candidate_value <= value + 1e-4 * size * slope:
            size /= 2
            if size < 1e-12:
                return log_params, value, grad, hess, steps
            candidate = log_params + size * direction
            candidate_value = objective.evaluate(candidate, order=0)[0]
            candidate_grad = None
        if candidate_grad is None:
            candidate_value, candidate_grad, candidate_hess = objective.evaluate(candidate)
        log_params, value, grad, hess = candidate, candidate_value, candidate_grad, candidate_hess
        steps += 1
    return log_params, value, grad, hess, steps


# Most polishing steps: from the quadratic region each gains several digits.
_MAX_POLISH_STEPS = 8
# A Newton step this small (relative, in log-parameters: 4 ulp) is rounding noise.
_POLISHED = 4 * np.finfo(float).eps


def _polish(objective, log_params, value, grad, hess, steps):
    """Newton steps with the Hessian kept (only the gradient re-evaluated) from a point
    in the quadratic region, until the step is at rounding level.

    Near the optimum the Hessian changes by about the step's size, so each step
    shrinks the distance to the optimum by that factor. The steps stop once one is no
    smaller than half the one before (the gradient is then rounding noise), or is
    below 4 ulp of the log-parameters. The Hessian returned is that of the first point:
    it differs from the optimum's by far less than the standard errors' precision. A
    point whose gradient is not yet within the convergence tolerance (a ridge towards
    the boundary) is returned as it is, for the caller's boundary handling.
    """
    if not np.max(np.abs(grad)) < GRADIENT_TOLERANCE:
        return log_params, value, grad, hess, steps
    direction = _newton_direction(grad, hess)
    for _ in range(_MAX_POLISH_STEPS):
        size = float(np.max(np.abs(direction)))
        if size <= _POLISHED * max(1.0, float(np.max(np.abs(log_params)))):
            break
        candidate = log_params + direction
        candidate_value, candidate_grad, _ = objective.evaluate(candidate, order=1)
        if (not np.isfinite(candidate_value) or candidate_grad is None or not np.all(np.isfinite(candidate_grad))
                or candidate_value > value + 1e-12 * max(1.0, abs(value))):
            break
        log_params, value, grad = candidate, candidate_value, candidate_grad
        steps += 1
        direction = _newton_direction(grad, hess)
        if np.max(np.abs(direction)) > size / 2:
            break
    return log_params, value, grad, hess, steps


def _newton_direction(grad, hess):
    """Solve H d = -g, shifting H to positive definite first if it is not."""
    eigenvalues = np.linalg.eigvalsh(hess)
    shift = 0.0
    if eigenvalues[0] <= 1e-12 * max(1.0, eigenvalues[-1]):
        shift = -eigenvalues[0] + 1e-6 * max(1.0, eigenvalues[-1])
    direction = -np.linalg.solve(hess + shift * np.eye(len(grad)), grad)
    longest = np.max(np.abs(direction))
    if longest > _MAX_NEWTON_STEP:
        direction *= _MAX_NEWTON_STEP / longest
    return direction


def _quasi_newton(objective, start, method, max_iter):
    from scipy import optimize  # only the fallbacks need it, and it is slow to import

    if method == "Nelder-Mead":
        result = optimize.minimize(
            lambda p: objective.evaluate(p, 0)[0], start, method=method,
            options={"maxiter": max_iter * 5, "xatol": 1e-8, "fatol": 1e-12},
        )
        start = result.x
        method = "BFGS"
    result = optimize.minimize(objective.value_and_gradient, start, jac=True, method=method, options={"maxiter": max_iter})
    return result.x


def _problem(point, value, grad, hess):
    """Why ``point`` is not the maximum-likelihood estimate, or None if it is.

    A method's own success flag is not trusted either way (BFGS often reports
    "precision loss" at the optimum): the estimate is a point where the objective is
    finite, the gradient vanishes and the Hessian is positive definite (a strict
    maximum, not a ridge or a saddle).
    """
    if not np.isfinite(value) or grad is None:
        return "the log-likelihood is not finite"
    gradient_norm = float(np.max(np.abs(grad)))
    if not gradient_norm < GRADIENT_TOLERANCE:
        return f"the gradient is still {gradient_norm:.2g}"
    if np.any(np.abs(point) >= LOG_PARAM_LIMIT - 1e-6):
        return "a parameter ran off to 0 or infinity"
    if not np.all(np.isfinite(hess)) or np.linalg.eigvalsh(hess)[0] <= 0:
        return "the log-likelihood is flat in some direction (no strict maximum)"
    return None


def format_params(names, log_params):
    with np.errstate(over="ignore"):
        return ", ".join(f"{name}={value:.4g}" for name, value in zip(names, np.exp(log_params)))


def maximise(objective, start, names, model_name, max_iter):
    """Maximum-likelihood log-parameters, their Hessian and how they were found.

    Newton from ``start`` first; if it does not reach an acceptable point (see
    ``_problem``): BFGS from ``start``, Nelder-Mead then BFGS, and L-BFGS-B from the
    origin, each finished by Newton steps.

    Returns
    -------
    log_params : ndarray
    hessian : ndarray
        Hessian of the objective (mean negative log-likelihood) at ``log_params``.
    info : dict
        ``method``, ``n_iter`` (Newton steps), ``gradient_norm`` and ``objective``
        (its value at ``log_params``).

    Raises
    ------
    ConvergenceError
        Listing where each method stopped and why that is not a maximum.
    """
    attempts = []
    best = (np.inf, None)
    for method, origin in (("Newton", start), ("BFGS", start), ("Nelder-Mead", start), ("L-BFGS-B", np.zeros_like(start))):
        try:
            point = origin if method == "Newton" else _quasi_newton(objective, origin, method, max_iter)
            point, value, grad, hess, steps = newton(objective, point)
            if method == "Newton" and not np.isfinite(value):
                start = np.zeros_like(start)  # the likelihood is undefined at the start values
                point, value, grad, hess, steps = newton(objective, start)
        except (ValueError, FloatingPointError, np.linalg.LinAlgError) as error:
            attempts.append(f"{method}: {error}")
            continue
        if np.isfinite(value) and value < best[0]:
            best = (value, point)
        problem = _problem(point, value, grad, hess)
        if problem is None:
            info = {"method": method, "n_iter": steps, "gradient_norm": float(np.max(np.abs(grad))), "objective": value}
            return point, hess, info
        attempts.append(f"{method} stopped at {format_params(names, point)}: {problem}")
    error = ConvergenceError(
        f"{model_name} did not converge ({'; '.join(attempts)}; times rescaled). "
        "The data may not identify every parameter (e.g. almost no customer made a "
        "repeat purchase, or all histories are identical): check them, or pass "
        "penalizer=0.001 to regularise the fit."
    )
    error.best_point = best[1]
    raise error


def finite_difference_derivatives(log_likelihood, params, order, step=1e-4):
    """Total log-likelihood and, for ``order`` >= 1 and 2, its gradient and Hessian with
    respect to the natural parameters, by central differences in log-parameters.

    For models that give no analytic derivatives. Steps are relative (a step of
    ``step`` in ln(param)), so parameters of any scale are differentiated alike; the
    Hessian uses the four-point formula for mixed terms. The truncation error is of
    order ``step**2`` relative, below the convergence test's resolution.
    """
    params = np.asarray(params, dtype=float)
    log_params = np.log(params)

    def at(shift):
        return float(log_likelihood(np.exp(log_params + shift)))

    value = at(np.zeros_like(log_params))
    if order == 0 or not np.isfinite(value):
        return value, None, None
    k = len(params)
    eye = np.eye(k) * step
    plus = np.array([at(eye[i]) for i in range(k)])
    minus = np.array([at(-eye[i]) for i in range(k)])
    grad_log = (plus - minus) / (2 * step)
    grad = grad_log / params
    if order == 1:
        return value, grad, None
    hess_log = np.diag((plus - 2 * value + minus) / step**2)
    for i in range(k):
        for j in range(i + 1, k):
            mixed = (at(eye[i] + eye[j]) - at(eye[i] - eye[j]) - at(eye[j] - eye[i]) + at(-eye[i] - eye[j])) / (4 * step**2)
            hess_log[i, j] = hess_log[j, i] = mixed
    # d2l/dp_i dp_j = (d2l/du_i du_j - delta_ij dl/du_i) / (p_i p_j), with u = ln p.
    hess = (hess_log - np.diag(grad_log)) / np.outer(params, params)
    return value, grad, hess


# ----------------------------------------------------------------------------- boundary
# A fit is examined for a maximum at infinity when it fails, or when it ends with a
# log-parameter beyond this (a parameter e^8 ~ 3000 times its rescaled unit) or a
# Hessian this close to singular.
_SUSPECT_LOG_PARAM = 8.0
_SUSPECT_CONDITION = 1e10
# Probe distance (log units) along candidate directions, and the mean log-likelihood
# change per customer below which the likelihood "does not fall" along one.
_PROBE = 10.0
_FLAT = 1e-10
# Where a divergent direction is pushed: steps of _PUSH_STEP until the mean
# log-likelihood gains less than _PUSH_CONVERGED, staying _PUSH_MARGIN inside the limit.
_PUSH_STEP = 2.0
_PUSH_CONVERGED = 1e-13
_PUSH_MARGIN = 6.0


class Restricted:
    """An objective restricted to ``origin + basis @ phi`` (the directions left free
    once the divergent ones are held far out), with the interface ``maximise`` uses."""

    def __init__(self, objective, origin, basis):
        self.objective, self.origin, self.basis = objective, origin, basis
        self.total = objective.total

    def full(self, phi):
        return self.origin + self.basis @ phi

    def evaluate(self, phi, order=2):
        value, grad, hess = self.objective.evaluate(self.full(phi), order)
        if grad is not None:
            grad = self.basis.T @ grad
        if hess is not None:
            hess = self.basis.T @ hess @ self.basis
        return value, grad, hess

    def value_and_gradient(self, phi):
        value, gradient, _ = self.evaluate(phi, order=1)
        if not np.isfinite(value) or gradient is None or not np.all(np.isfinite(gradient)):
            return np.inf, np.zeros_like(phi)
        return value, gradient

    def log_likelihood(self, phi, value):
        return self.objective.log_likelihood(self.full(phi), value)


def candidate_directions(k):
    """Unit moves of one log-parameter, and of two together or in opposition: the ways
    a mixing distribution degenerates (a Gamma's or a Beta's shape and scale growing
    together, a shape vanishing, ...), for any model."""
    eye = np.eye(k)
    directions = [sign * eye[i] for i in range(k) for sign in (1, -1)]
    for i in range(k):
        for j in range(i + 1, k):
            for sign_j in (1, -1):
                for sign in (1, -1):
                    directions.append(sign * (eye[i] + sign_j * eye[j]) / np.sqrt(2))
    return directions


def is_suspect(point, hess):
    """Whether a converged fit might be a maximum at infinity rather than a strict one."""
    if np.any(np.abs(point) > _SUSPECT_LOG_PARAM):
        return True
    eigenvalues = np.linalg.eigvalsh(hess) if np.all(np.isfinite(hess)) else None
    return eigenvalues is None or eigenvalues[0] <= eigenvalues[-1] / _SUSPECT_CONDITION


def divergent_direction(objective, point, found):
    """The candidate direction, independent of those ``found``, along which the
    objective keeps falling (the likelihood rising) furthest from ``point``; or None."""
    here = objective.evaluate(point, order=0)[0]
    best, best_value = None, here + _FLAT
    span = np.array(found).T if found else None
    for direction in candidate_directions(len(point)):
        if span is not None:
            residual = direction - span @ np.linalg.lstsq(span, direction, rcond=None)[0]
            if np.linalg.norm(residual) < 1e-6:
                continue
        probe = point + _PROBE * direction
        if np.any(np.abs(probe) > LOG_PARAM_LIMIT - _PUSH_MARGIN):
            continue
        value = objective.evaluate(probe, order=0)[0]
        if value < best_value:
            best, best_value = direction, value
    return best


def push(objective, point, direction):
    """Move along ``direction`` while the likelihood still rises measurably.

    Returns the point reached and whether it is the limit (the likelihood still rising,
    by less than _PUSH_CONVERGED a step, or the parameters at the edge of the range)
    rather than a finite maximum along the line (the likelihood turned down).
    """
    value = objective.evaluate(point, order=0)[0]
    while True:
        candidate = point + _PUSH_STEP * direction
        if np.any(np.abs(candidate) > LOG_PARAM_LIMIT - _PUSH_MARGIN):
            return point, True
        candidate_value = objective.evaluate(candidate, order=0)[0]
        if not candidate_value <= value:
            return point, False
        point, gain, value = candidate, value - candidate_value, candidate_value
        if gain < _PUSH_CONVERGED:
            return point, True


def complement_basis(directions, k):
    """Orthonormal basis of the log-parameter directions orthogonal to ``directions``."""
    span = np.array(directions).T
    full, _ = np.linalg.qr(np.hstack([span, np.eye(k)]))
    return full[:, len(directions):k]


def maximise_with_boundary(objective, start, names, model_name, max_iter, shift=0.0):
    """:func:`maximise`, extended to maxima at infinity.

    When the fit fails or ends far out or nearly singular, the likelihood is probed
    along :func:`candidate_directions`. If it keeps rising along one (e.g. a Beta's a
    and b growing together: no heterogeneity left), the supremum is the limiting model:
    that direction is pushed out until the likelihood no longer changes (the formulas
    are then the limit's to within rounding), the other directions are maximised with
    it held there, and this repeats for further divergent directions.

    ``shift`` is added to the log-parameters before judging them far out (the time
    rescaling of :class:`clvmodels._base.BaseModel`).

    Returns
    -------
    log_params, hessian, info
        As :func:`maximise`, with ``info["divergent"]`` (the divergent directions, empty
        for an interior maximum) and, at the boundary, ``info["basis"]`` (free
        directions) and ``hessian`` restricted to them.

    Raises
    ------
    ConvergenceError
        When no maximum is found and the likelihood rises along no candidate direction.
    """
    def maximise_free(point, found):
        """Maximise over the directions not in ``found``, from ``point``; (point, hess,
        info), with info None if that fails."""
        if not found:
            try:
                return (*maximise(objective, point, names, model_name, max_iter), None)
            except ConvergenceError as error:
                if error.best_point is None:
                    raise
                return error.best_point, None, None, error
        basis = complement_basis(found, len(point))
        restricted = Restricted(objective, point, basis)
        try:
            phi, hess, info = maximise(restricted, np.zeros(basis.shape[1]), [f"direction {i}" for i in range(basis.shape[1])],
                                       model_name, max_iter)
        except ConvergenceError as error:
            if error.best_point is None:
                return point, None, None, error
            return restricted.full(error.best_point), None, None, error
        return restricted.full(phi), hess, info, None

    point, hess, info, failure = maximise_free(start, [])
    first_failure = failure
    if failure is None and not is_suspect(point + shift, hess):
        return point, hess, {**info, "divergent": []}
    found = []
    k = len(point)
    for _ in range(2 * k):
        if len(found) >= k - 1:
            break
        direction = divergent_direction(objective, point, found)
        if direction is None:
            break
        moved, at_limit = push(objective, point, direction)
        if not at_limit:
            # The likelihood rises that way but peaks at a finite distance: an
            # ordinary maximum the optimiser had not reached; go on from there.
            point, hess, info, failure = maximise_free(moved, found)
            continue
        found.append(direction)
        point = moved
        for _ in range(3):  # alternate: re-maximise the free directions, push out again
            point, hess, info, failure = maximise_free(point, found)
            for d in found:
                point, _ = push(objective, point, d)
    if not found:
        if failure is not None:
            raise first_failure if first_failure is not None else failure
        return point, hess, {**info, "divergent": []}
    if info is None:
        raise ConvergenceError(
            f"{model_name} did not converge: the likelihood rises towards a limit but the "
            "remaining parameters have no maximum there"
        )
    value = objective.evaluate(point, order=0)[0]
    return point, hess, {**info, "objective": value, "divergent": found, "basis": complement_basis(found, k)}
