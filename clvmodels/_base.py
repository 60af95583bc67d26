"""The fitting engine shared by every model.

A model class declares its parameter names, the RFM columns its likelihood needs,
which parameters are measured in units of time, start values, and a vectorised
log-likelihood with its gradient. This module does the rest: input checks,
compression of identical rows into weights, time rescaling, maximum likelihood over
log-parameters with a fallback, standard errors from the Hessian, the summary table
and JSON persistence.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize

from ._units import check_time_unit
from ._validation import check_rfm, check_sample_weight
from .exceptions import ConvergenceError, ModelWarning, NotFittedError

FORMAT_NAME = "clvmodels-model"
FORMAT_VERSION = 1
_MODEL_CLASSES = {}

# The gradient of the mean log-likelihood (per customer) w.r.t. log-parameters must
# fall below this for a fit to count as converged.
_GRADIENT_TOLERANCE = 1e-5
_LOG_PARAM_LIMIT = 40.0


def compress_rows(columns, weights):
    """Collapse identical rows of ``columns`` into unique rows with summed ``weights``.

    Parameters
    ----------
    columns : dict of str -> ndarray
        Equal-length 1-d arrays, one per column.
    weights : ndarray
        One non-negative weight per row.

    Returns
    -------
    unique : dict of str -> ndarray
        The distinct rows, in order of first appearance.
    counts : ndarray
        The summed weight of each distinct row.
    """
    key = None
    for values in columns.values():
        codes, uniques = pd.factorize(values, sort=False)
        if key is None:
            key = codes.astype(np.int64)
        else:
            key, _ = pd.factorize(key * len(uniques) + codes, sort=False)
    key = np.asarray(key)
    n_unique = int(key.max()) + 1 if len(key) else 0
    first = np.full(n_unique, len(key), dtype=np.int64)
    np.minimum.at(first, key, np.arange(len(key)))
    counts = np.bincount(key, weights=weights, minlength=n_unique)
    unique = {name: values[first] for name, values in columns.items()}
    return unique, counts


def unique_inverse(values):
    """Distinct values and the index of each element into them (special functions are
    evaluated once per distinct value)."""
    uniques, inverse = np.unique(values, return_inverse=True)
    return uniques, inverse.reshape(-1)


class BaseModel:
    """Base class of the clvmodels models: maximum likelihood over log-parameters.

    Subclasses set ``param_names``, ``rfm_columns`` and ``time_params`` and implement
    ``_start_params``, ``_loglik_and_grad`` and their predictions.

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty on the parameters (in the rescaled time unit), added to the mean
        negative log-likelihood as in lifetimes' ``penalizer_coef``. Zero gives the
        maximum-likelihood estimate.
    max_iter : int, default 2000
        Iteration budget of each optimiser tried.
    """

    param_names = ()
    rfm_columns = ()
    time_params = ()
    time_columns = ()

    def __init__(self, *, penalizer=0.0, max_iter=2000):
        self.penalizer = penalizer
        self.max_iter = max_iter

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _MODEL_CLASSES[cls.__name__] = cls

    # ----- hooks a model implements -------------------------------------------------
    def _fit_rows(self, arrays):
        """Boolean mask of the rows the likelihood uses (all by default)."""
        return np.ones(len(next(iter(arrays.values()))), dtype=bool)

    def _start_params(self, columns, weights):
        raise NotImplementedError

    def _prepare(self, columns):
        """Precompute what the log-likelihood needs from the (unique, rescaled) rows."""
        return columns

    @staticmethod
    def _loglik_and_grad(params, prepared):
        """Per-row log-likelihood and its gradient w.r.t. ``params`` (rows x params)."""
        raise NotImplementedError

    def _check_params(self):
        """Warn about fitted parameters that make some predictions meaningless."""

    # ----- fitting ----------------------------------------------------------------------
    def fit(self, data, sample_weight=None):
        """Fit the model by maximum likelihood.

        Parameters
        ----------
        data : pandas.DataFrame
            One row per customer (or per distinct history, with ``sample_weight``)
            holding the model's RFM columns, e.g. the output of
            :func:`clvmodels.rfm_summary`. ``data.attrs["time_unit"]`` is remembered.
        sample_weight : array-like or str, optional
            Number of customers each row stands for, or the name of a column holding
            it. Fitting unique rows with their counts gives exactly the full fit.

        Returns
        -------
        self
        """
        self._validate_settings()
        arrays = check_rfm(data, self.rfm_columns, what=f"data for {type(self).__name__}")
        weights = check_sample_weight(sample_weight, data)
        used = self._fit_rows(arrays) & (weights > 0)
        if not np.any(used):
            raise ValueError(f"invalid data for {type(self).__name__}: no row can be used for fitting")
        columns, counts = compress_rows({c: v[used] for c, v in arrays.items()}, weights[used])

        scale = self._time_scale(columns)
        scaled = {c: (v * scale if c in self.time_columns else v) for c, v in columns.items()}
        prepared = self._prepare(scaled)
        start = np.log(self._start_params(scaled, counts))
        log_params, hessian, info = _maximise(
            prepared, counts, start, self._loglik_and_grad, self.penalizer, self.max_iter,
            type(self).__name__, self.param_names,
        )
        time_shift = np.array([np.log(scale) if p in self.time_params else 0.0 for p in self.param_names])
        log_params = log_params - time_shift

        self.params_ = pd.Series(np.exp(log_params), index=list(self.param_names), dtype=float)
        self.time_unit_ = data.attrs.get("time_unit")
        self.n_customers_ = float(counts.sum())
        self.n_unique_rows_ = len(counts)
        self.converged_ = True
        self.optimizer_ = info["method"]
        self.n_iter_ = info["n_iter"]
        self.gradient_norm_ = info["gradient_norm"]
        original = self._prepare(columns)
        ll, _ = self._loglik_and_grad(self.params_.to_numpy(), original)
        self.log_likelihood_ = float(np.dot(counts, ll))
        self.covariance_ = self._covariance(hessian, log_params)
        self.metadata_ = {}
        self._check_params()
        return self

    def _validate_settings(self):
        penalizer = float(self.penalizer)
        if not np.isfinite(penalizer) or penalizer < 0:
            raise ValueError(f"penalizer must be a finite number >= 0, got {self.penalizer!r}")
        if int(self.max_iter) < 1:
            raise ValueError(f"max_iter must be >= 1, got {self.max_iter!r}")

    def _time_scale(self, columns):
        """Factor that maps the longest observation period to 10 time units."""
        if not self.time_columns:
            return 1.0
        longest = max(float(np.max(columns[c])) for c in self.time_columns)
        return 10.0 / longest if longest > 0 else 1.0

    def _covariance(self, hessian_log, log_params):
        """Covariance of the natural parameters by the delta method.

        ``hessian_log`` is the Hessian of the total log-likelihood w.r.t.
        log-parameters; it does not depend on the time unit.
        """
        names = list(self.param_names)
        try:
            cov_log = np.linalg.inv(-hessian_log)
        except np.linalg.LinAlgError:
            cov_log = np.full((len(names), len(names)), np.nan)
        if np.any(np.diag(cov_log) < 0) or not np.all(np.isfinite(cov_log)):
            warnings.warn(
                f"{type(self).__name__}: the Hessian at the estimate is singular or not "
                "negative definite; standard errors are not available",
                ModelWarning,
                stacklevel=3,
            )
            cov_log = np.full((len(names), len(names)), np.nan)
        self._cov_log = cov_log
        jac = np.exp(log_params)
        return pd.DataFrame(cov_log * np.outer(jac, jac), index=names, columns=names)

    # ----- fitted state -------------------------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "params_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(data) or load_model(path) first"
            )

    @property
    def standard_errors_(self):
        self._check_fitted()
        return pd.Series(np.sqrt(np.diag(self.covariance_.to_numpy())), index=self.params_.index)

    def summary(self):
        """Parameter table: estimate, standard error and 95% interval.

        The interval is computed on the log scale, ``exp(log(est) +- 1.96 se_log)``,
        so it never contains negative values.

        Returns
        -------
        pandas.DataFrame
            Indexed by parameter name with columns ``estimate``, ``std_error``,
            ``lower_95`` and ``upper_95``.
        """
        self._check_fitted()
        estimate = self.params_.to_numpy()
        se_log = np.sqrt(np.diag(self._cov_log))
        z = 1.959963984540054
        table = pd.DataFrame(
            {
                "estimate": estimate,
                "std_error": estimate * se_log,
                "lower_95": estimate * np.exp(-z * se_log),
                "upper_95": estimate * np.exp(z * se_log),
            },
            index=pd.Index(self.param_names, name="parameter"),
        )
        table.attrs.update(
            model=type(self).__name__,
            log_likelihood=self.log_likelihood_,
            n_customers=self.n_customers_,
            time_unit=self.time_unit_,
        )
        return table

    def __repr__(self):
        name = type(self).__name__
        if not hasattr(self, "params_"):
            return f"{name}(penalizer={self.penalizer!r})"
        values = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
        unit = f", time_unit={self.time_unit_!r}" if self.time_unit_ else ""
        return f"<{name}: {values}{unit}, log-likelihood={self.log_likelihood_:.2f}>"

    # ----- predictions helpers ------------------------------------------------------------
    def _rfm(self, data, columns):
        """Checked float arrays of ``columns`` from ``data``, after a time-unit check."""
        self._check_fitted()
        unit = data.attrs.get("time_unit") if hasattr(data, "attrs") else None
        if unit and self.time_unit_ and check_time_unit(unit) != check_time_unit(self.time_unit_):
            raise ValueError(
                f"time unit mismatch: the data is in {unit!r} but {type(self).__name__} "
                f"was fitted in {self.time_unit_!r}; summarise the data with time_unit="
                f"{self.time_unit_!r}"
            )
        return check_rfm(data, columns)

    def _series(self, values, data, name):
        return pd.Series(values, index=data.index, name=name)

    # ----- persistence ----------------------------------------------------------------
    def to_dict(self):
        """The fitted model as a JSON-serialisable dict (no customer data inside)."""
        from . import __version__

        self._check_fitted()
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "clvmodels_version": __version__,
            "model": type(self).__name__,
            "settings": {"penalizer": float(self.penalizer), "max_iter": int(self.max_iter)},
            "params": {k: float(v) for k, v in self.params_.items()},
            "time_unit": self.time_unit_,
            "log_likelihood": self.log_likelihood_,
            "n_customers": self.n_customers_,
            "n_unique_rows": self.n_unique_rows_,
            "optimizer": self.optimizer_,
            "covariance_log_params": _nan_to_none(self._cov_log),
            "metadata": self.metadata_,
        }

    def save(self, path, *, metadata=None):
        """Write the fitted model to ``path`` as JSON; ``metadata`` (a JSON-able dict)
        is stored with it and comes back as ``metadata_`` from :func:`load_model`."""
        record = self.to_dict()
        if metadata:
            record["metadata"] = {**record["metadata"], **metadata}
        Path(path).write_text(json.dumps(record, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, record):
        """Rebuild a fitted model from :meth:`to_dict` output."""
        model = cls(**record.get("settings", {}))
        names = list(model.param_names)
        params = record["params"]
        if sorted(params) != sorted(names):
            raise ValueError(f"{cls.__name__} needs parameters {names}, the file has {sorted(params)}")
        model.params_ = pd.Series([float(params[n]) for n in names], index=names, dtype=float)
        model.time_unit_ = record.get("time_unit")
        model.log_likelihood_ = record.get("log_likelihood")
        model.n_customers_ = record.get("n_customers")
        model.n_unique_rows_ = record.get("n_unique_rows")
        model.optimizer_ = record.get("optimizer")
        model.converged_ = True
        model.metadata_ = record.get("metadata") or {}
        cov = record.get("covariance_log_params")
        cov_log = np.array(cov, dtype=float) if cov is not None else np.full((len(names),) * 2, np.nan)
        model._cov_log = cov_log
        jac = model.params_.to_numpy()
        model.covariance_ = pd.DataFrame(cov_log * np.outer(jac, jac), index=names, columns=names)
        return model


def _nan_to_none(matrix):
    return [[None if not np.isfinite(v) else float(v) for v in row] for row in np.asarray(matrix)]


def load_model(path):
    """Read a model written by ``save``.

    Raises
    ------
    ValueError
        If the file is not JSON written by clvmodels, or names an unknown model.
    """
    text = Path(path).read_text(encoding="utf-8")
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not a clvmodels model file (not valid JSON: {error.msg})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT_NAME:
        raise ValueError(f"{path}: not a clvmodels model file (no '\"format\": \"{FORMAT_NAME}\"' entry)")
    if record.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(
            f"{path}: written by a newer clvmodels (format version {record['format_version']}); upgrade clvmodels"
        )
    cls = _MODEL_CLASSES.get(record.get("model"))
    if cls is None:
        raise ValueError(f"{path}: unknown model {record.get('model')!r}; known: {', '.join(sorted(_MODEL_CLASSES))}")
    for cov in record.get("covariance_log_params") or []:
        cov[:] = [np.nan if v is None else v for v in cov]
    return cls.from_dict(record)


# ----- the optimiser ------------------------------------------------------------------
class _Objective:
    """Mean negative log-likelihood over log-parameters, with its gradient."""

    def __init__(self, prepared, weights, loglik_and_grad, penalizer):
        self.prepared = prepared
        self.weights = weights
        self.total = weights.sum()
        self.loglik_and_grad = loglik_and_grad
        self.penalizer = penalizer
        self.n_calls = 0

    def __call__(self, log_params):
        self.n_calls += 1
        log_params = np.clip(log_params, -_LOG_PARAM_LIMIT, _LOG_PARAM_LIMIT)
        params = np.exp(log_params)
        with np.errstate(all="ignore"):
            ll, grad = self.loglik_and_grad(params, self.prepared)
            value = -np.dot(self.weights, ll) / self.total + self.penalizer * np.sum(params**2)
            gradient = -(self.weights @ grad) * params / self.total + 2 * self.penalizer * params**2
        if not np.isfinite(value) or not np.all(np.isfinite(gradient)):
            return np.inf, np.zeros_like(log_params)
        return value, gradient

    def hessian(self, log_params, step=1e-5):
        """Central-difference Hessian of the objective from its analytic gradient."""
        k = len(log_params)
        hess = np.empty((k, k))
        for i in range(k):
            shift = np.zeros(k)
            shift[i] = step
            hess[i] = (self(log_params + shift)[1] - self(log_params - shift)[1]) / (2 * step)
        return (hess + hess.T) / 2


def _newton_polish(objective, log_params, max_steps=50):
    """Newton steps with backtracking from a point near the optimum.

    Quasi-Newton methods often stop with "precision loss" close to, but not at, the
    optimum; a few Newton steps on the exact gradient settle it.
    """
    value, grad = objective(log_params)
    for _ in range(max_steps):
        if np.max(np.abs(grad)) < 1e-10:
            break
        hess = objective.hessian(log_params)
        try:
            eigenvalues = np.linalg.eigvalsh(hess)
            if eigenvalues.min() <= 0:
                break
            step = -np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            break
        for _ in range(30):
            candidate = log_params + step
            new_value, new_grad = objective(candidate)
            if new_value <= value + 1e-14 * abs(value):
                break
            step /= 2
        else:
            break
        if np.max(np.abs(new_grad)) >= np.max(np.abs(grad)) and new_value >= value:
            break
        log_params, value, grad = candidate, new_value, new_grad
    return log_params, value, grad


def _format_params(names, log_params):
    return ", ".join(f"{name}={value:.4g}" for name, value in zip(names, np.exp(log_params)))


def _run_method(objective, start, method, max_iter):
    if method == "Nelder-Mead":
        result = optimize.minimize(
            lambda p: objective(p)[0], start, method=method,
            options={"maxiter": max_iter * 5, "xatol": 1e-8, "fatol": 1e-12},
        )
    else:
        result = optimize.minimize(objective, start, jac=True, method=method, options={"maxiter": max_iter})
    return result.x, result.nit


def _diagnose(objective, point, value, grad):
    """Why ``point`` is not an acceptable maximum, or None if it is one.

    A method's own success flag is not trusted either way (BFGS often reports
    "precision loss" at the optimum): a point is the maximum-likelihood estimate when
    the objective is finite there, the gradient of the mean log-likelihood vanishes
    and the Hessian is positive definite (a strict maximum, not a ridge or a saddle).
    """
    gradient_norm = float(np.max(np.abs(grad)))
    if not np.isfinite(value):
        return "the log-likelihood is not finite", None
    if gradient_norm >= _GRADIENT_TOLERANCE:
        return f"the gradient is still {gradient_norm:.2g}", None
    if np.any(np.abs(point) >= _LOG_PARAM_LIMIT - 1e-6):
        return "a parameter ran off to 0 or infinity", None
    hessian = objective.hessian(point)
    if not np.all(np.isfinite(hessian)) or np.linalg.eigvalsh(hessian).min() <= 0:
        return "the log-likelihood is flat in some direction (no strict maximum)", None
    return None, hessian


def _maximise(prepared, weights, start, loglik_and_grad, penalizer, max_iter, model_name, names):
    """Find the maximum-likelihood log-parameters, trying methods in turn.

    BFGS from the start values; then Nelder-Mead (gradient-free, robust to bad
    scaling) followed by BFGS; then L-BFGS-B from the origin. Each is finished by
    Newton steps; the best acceptable point (see ``_diagnose``) wins.
    """
    objective = _Objective(prepared, weights, loglik_and_grad, penalizer)
    if not np.isfinite(objective(start)[0]):
        start = np.zeros_like(start)
    attempts = []
    accepted = None
    for method, origin in (("BFGS", start), ("Nelder-Mead", start), ("L-BFGS-B", np.zeros_like(start))):
        try:
            point, n_iter = _run_method(objective, origin, method, max_iter)
            if method == "Nelder-Mead":
                point, more = _run_method(objective, point, "BFGS", max_iter)
                n_iter += more
        except (ValueError, FloatingPointError, np.linalg.LinAlgError) as error:
            attempts.append(f"{method}: {error}")
            continue
        point, value, grad = _newton_polish(objective, point)
        problem, hessian = _diagnose(objective, point, value, grad)
        if problem is not None:
            attempts.append(f"{method} stopped at {_format_params(names, point)}: {problem}")
            continue
        if accepted is None or value < accepted[1]:
            accepted = (point, value, hessian, method, n_iter, float(np.max(np.abs(grad))))
        break
    if accepted is None:
        raise ConvergenceError(
            f"{model_name} did not converge ({'; '.join(attempts)}; times rescaled). "
            "The data may not identify every parameter (e.g. almost no customer made a "
            "repeat purchase, or all histories are identical): check them, or pass "
            "penalizer=0.001 to regularise the fit."
        )
    point, _, hessian, method, n_iter, gradient_norm = accepted
    info = {"method": method, "n_iter": int(n_iter), "gradient_norm": gradient_norm}
    return point, -hessian * objective.total, info
