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
    """Damped Newton steps with a backtracking line search.

    Where the Hessian is not positive definite (far from the optimum) it is shifted
    until it is, which turns the step towards steepest descent. Once the Newton
    decrement shows the point is within about 1e-4 of the optimum (so the step lands
    within about 1e-7 of it, by quadratic convergence), the last step is
    checked with the gradient only and the Hessian of the previous point is kept:
    they differ by far less than the standard errors' own precision.
    """
    value, grad, hess = objective.evaluate(log_params)
    steps = 0
    while steps < max_steps and np.isfinite(value) and np.all(np.isfinite(hess)):
        if np.max(np.abs(grad)) < 1e-10:
            break
        direction = _newton_direction(grad, hess)
        slope = float(grad @ direction)
        scale = max(1.0, abs(value))
        if -slope < 1e-15 * scale:
            break  # the decrement is at round-off level: nothing left to gain
        if -slope < 1e-10 * scale:
            final_value, final_grad, _ = objective.evaluate(log_params + direction, order=1)
            if final_value <= value + 1e-13 * scale and np.max(np.abs(final_grad)) <= np.max(np.abs(grad)):
                return log_params + direction, final_value, final_grad, hess, steps + 1
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
        problem = _problem(point, value, grad, hess)
        if problem is None:
            info = {"method": method, "n_iter": steps, "gradient_norm": float(np.max(np.abs(grad))), "objective": value}
            return point, hess, info
        attempts.append(f"{method} stopped at {format_params(names, point)}: {problem}")
    raise ConvergenceError(
        f"{model_name} did not converge ({'; '.join(attempts)}; times rescaled). "
        "The data may not identify every parameter (e.g. almost no customer made a "
        "repeat purchase, or all histories are identical): check them, or pass "
        "penalizer=0.001 to regularise the fit."
    )


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
