"""Time-invariant covariates in the purchase and dropout processes.

Fader, P. S. and Hardie, B. G. S. (2007), "Incorporating time-invariant covariates
into the Pareto/NBD and BG/NBD models", http://brucehardie.com/notes/019/. A model
declares which of its parameters carry covariates (``covariate_links``), e.g. for
BG/NBD ``{"purchase": (("alpha", -1),), "dropout": (("a", 1), ("b", 1))}``: customer
i has alpha_i = alpha exp(-g_p' z_i) (so her purchase rate scales by exp(g_p' z_i)),
a_i = a exp(g_a' z_i) and b_i = b exp(g_b' z_i), each parameter with coefficients of
its own. Pareto/NBD links alpha (sign -1) and beta (sign -1), so both its rates scale
by exp(g' z); the contractual sBG and BdW link both shapes of the churn probability's
Beta distribution (sign +1). The formulas then receive one value of those parameters
per customer.

Fitting: ln theta_i is linear in the working parameters (the log of the shared
parameters and the coefficients), so the gradient and Hessian of the log-likelihood
are sums over customers of D_i' g_i and D_i' H_i D_i, with g_i and H_i each
customer's derivatives w.r.t. her own log-parameters (from the model's
``row_derivatives``, else by finite differences) and D_i the constant design of the
link. Covariates are centred and scaled while fitting (the fit starts exactly at the
plain model, all coefficients zero) and the estimates mapped back, a linear map, so
standard errors carry over exactly.
"""

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._arrays import compress_rows, dot
from ._base import _compression_ticks
from ._intervals import check_draws, check_draws_method
from ._optimize import GRADIENT_TOLERANCE, LOG_PARAM_LIMIT, maximise
from ._validation import Problems, check_rfm, check_sample_weight, require_dataframe
from .exceptions import ConvergenceError, ModelWarning

PROCESSES = ("purchase", "dropout")
_Z95 = 1.959963984540054
# Subsample sizes of the warm start (each used when there are more than twice as many rows).
_WARM_START_ROWS = (20_000, 200_000)
_PROBE_ROWS = 10_000
_FD_STEP = 1e-4


def _encoding_hint(column):
    return (
        f"encode it as 0/1 indicator columns first, e.g. clvmodels.encode_categorical(data, [{column!r}]) "
        f"(or pandas.get_dummies(data, columns=[{column!r}], drop_first=True, dtype=float)) and name the "
        "indicator columns as covariates"
    )


def encode_categorical(data, columns, *, drop_first=True):
    """Replace categorical columns by 0/1 indicator columns usable as covariates.

    Parameters
    ----------
    data : pandas.DataFrame
    columns : list of str
        Columns to encode; each level becomes a column ``<column>_<level>``.
    drop_first : bool, default True
        Leave out the first level (the reference level): a full set of indicators is
        collinear with the model's own parameters and is refused by ``fit``.

    Returns
    -------
    pandas.DataFrame
        ``data`` with the indicators (floats) in place of ``columns``; ``attrs`` kept.
        The new names are in ``attrs["covariate_columns"]``.
    """
    require_dataframe(data, "data")
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise ValueError(f"invalid data: column {missing[0]!r} is missing")
    encoded = pd.get_dummies(data, columns=list(columns), drop_first=drop_first, dtype=float)
    encoded.attrs = dict(data.attrs)
    encoded.attrs["covariate_columns"] = [c for c in encoded.columns if c not in data.columns]
    return encoded


def covariate_matrix(data, names, *, what="covariates", for_fit=False):
    """The covariate columns ``names`` of ``data`` as a float matrix (rows x names).

    Every call refuses missing, categorical, NaN and infinite values; ``for_fit`` also
    refuses constant columns and columns collinear with others (the data could not
    tell their coefficients apart). Problems are one ``ValueError`` naming the columns.
    """
    require_dataframe(data, what)
    problems = Problems(what)
    columns = []
    for name in names:
        if name not in data.columns:
            problems.add(name, "is missing (a covariate the model was given)")
            continue
        series = data[name]
        if series.dtype.kind == "b":
            series = series.astype(float)
        if series.dtype.kind not in "fiu":
            problems.add(name, f"is categorical or text (dtype {series.dtype}); {_encoding_hint(name)}")
            continue
        values = series.to_numpy(dtype=float)
        problems.add_if(name, np.isnan(values), "are missing (NaN)")
        problems.add_if(name, np.isinf(values), "are infinite")
        columns.append(values)
    problems.raise_if_any()
    matrix = np.column_stack(columns) if columns else np.empty((len(data), 0))
    if for_fit:
        _check_identifiable(matrix, list(names), what)
    return matrix


def _check_identifiable(matrix, names, what):
    """Refuse constant columns and columns that are linear combinations of the others
    and a constant (checked on the centred, scaled columns by a QR decomposition)."""
    problems = Problems(what)
    constant = matrix.max(axis=0) == matrix.min(axis=0)
    for name in np.asarray(names, dtype=object)[constant]:
        problems.add(name, "is constant: its effect cannot be told apart from the model's own parameters")
    problems.raise_if_any()
    if len(names) < 2:
        return
    shifted = matrix - matrix[0]  # a value of the data as origin: no cancellation for large means
    mean = shifted.sum(axis=0) / len(matrix)
    covariance = shifted.T @ shifted / len(matrix) - np.outer(mean, mean)
    spread = np.sqrt(np.maximum(np.diag(covariance), np.finfo(float).tiny))
    correlation = covariance / np.outer(spread, spread)
    # Share of each column's variance not explained by the columns before it: the
    # ratio of successive leading principal minors of the correlation matrix.
    minors = [1.0] + [np.linalg.det(correlation[: j + 1, : j + 1]) for j in range(len(names))]
    unexplained = np.array([minors[j + 1] / minors[j] if minors[j] > 0 else 0.0 for j in range(len(names))])
    for j in np.flatnonzero(unexplained < 1e-10):
        others = ", ".join(repr(n) for n in names[:j])
        problems.add(names[j], f"is collinear with {others} (a linear combination of them and a constant); drop one")
    problems.raise_if_any()


@dataclass(frozen=True)
class Link:
    """One parameter carrying covariates: theta_i = theta exp(sign * coef' z_i)."""

    param: str
    position: int  # in the model's base parameter names
    sign: int
    process: str
    covariates: tuple
    coefficient_names: tuple


class Design:
    """Which parameters carry which covariates, and the names of the coefficients."""

    def __init__(self, base_names, links, purchase, dropout):
        self.base_names = tuple(base_names)
        self.covariates = tuple(dict.fromkeys([*purchase, *dropout]))
        chosen = {"purchase": tuple(purchase), "dropout": tuple(dropout)}
        self.links = []
        for process in PROCESSES:
            names = chosen[process]
            if not names:
                continue
            targets = links[process]
            for param, sign in targets:
                prefix = process if len(targets) == 1 else f"{process}_{param}"
                self.links.append(Link(
                    param, self.base_names.index(param), int(sign), process, names,
                    tuple(f"{prefix}[{name}]" for name in names),
                ))
        self.coefficient_names = tuple(n for link in self.links for n in link.coefficient_names)
        self.names = self.base_names + self.coefficient_names

    def columns_of(self, link):
        return [self.covariates.index(name) for name in link.covariates]

    def row_params(self, values, matrix):
        """Parameter mapping of every row: base values, linked ones per row.

        ``values`` maps every name in ``names`` to a number; ``matrix`` holds the
        covariates (rows x ``covariates``).
        """
        params = {name: float(values[name]) for name in self.base_names}
        for link in self.links:
            coefficients = np.array([float(values[n]) for n in link.coefficient_names])
            params[link.param] = params[link.param] * np.exp(link.sign * (matrix[:, self.columns_of(link)] @ coefficients))
        return params


def take_rows(params, rows):
    """``params`` with every per-row value restricted to ``rows``."""
    return {k: (v if np.ndim(v) == 0 else np.asarray(v)[rows]) for k, v in params.items()}


class CovariateMixin:
    """Settings and fitting of time-invariant covariates, for the transaction and the
    contractual models.

    Models declare ``covariate_links`` (process -> ((parameter, sign), ...)); models
    without it refuse covariates.

    Parameters
    ----------
    purchase_covariates, dropout_covariates : list of str, optional
        Numeric columns of the data that shift the purchase and the dropout process.
        Every later call (predictions, CLV, intervals) needs them in its data too.
    covariate_penalizer : float, default 0.0
        L2 penalty on the coefficients of the standardised covariates (each centred
        and divided by its standard deviation), added to the mean negative
        log-likelihood; 0 gives maximum likelihood.
    """

    covariate_links = {}
    covariate_quantities = {}

    def __init__(self, *, penalizer=0.0, max_iter=2000, purchase_covariates=None, dropout_covariates=None,
                 covariate_penalizer=0.0):
        # Explicit settings: model records are checked against the constructor's signature.
        super().__init__(penalizer=penalizer, max_iter=max_iter)
        for process, names in (("purchase", purchase_covariates), ("dropout", dropout_covariates)):
            if isinstance(names, str):
                raise ValueError(f"{process}_covariates must be a list of column names, got {names!r}")
        self.purchase_covariates = list(purchase_covariates or [])
        self.dropout_covariates = list(dropout_covariates or [])
        self.covariate_penalizer = covariate_penalizer
        if self.purchase_covariates or self.dropout_covariates:
            self._design()  # refuses unsupported settings at once

    # ----- settings ----------------------------------------------------------------------
    def _design(self):
        name = type(self).__name__
        lists = {"purchase": self.purchase_covariates, "dropout": self.dropout_covariates}
        for process, names in lists.items():
            if isinstance(names, str) or not all(isinstance(n, str) for n in names):
                raise ValueError(f"{process}_covariates must be a list of column names, got {names!r}")
            if len(set(names)) != len(names):
                raise ValueError(f"{process}_covariates names a column twice: {names!r}")
            if names and process not in self.covariate_links:
                supported = ", ".join(sorted(self.covariate_links)) or "none"
                raise ValueError(
                    f"{name} does not support {process} covariates (processes with covariates: {supported})"
                )
        penalizer = float(self.covariate_penalizer)
        if not np.isfinite(penalizer) or penalizer < 0:
            raise ValueError(f"covariate_penalizer must be a finite number >= 0, got {self.covariate_penalizer!r}")
        design = Design(type(self).param_names, self.covariate_links, self.purchase_covariates, self.dropout_covariates)
        self.param_names = design.names
        return design

    def _has_covariates(self):
        return bool(self.purchase_covariates or self.dropout_covariates)

    @property
    def coefficient_names(self):
        """Names of the covariate coefficients in ``params_`` (empty without covariates)."""
        return self._design().coefficient_names if self._has_covariates() else ()

    # ----- parameters of the formulas ----------------------------------------------------
    def formula_params(self, data, params=None):
        """The parameter mapping the formulas take for the rows of ``data``.

        Without covariates, the fitted parameters (or ``params``: a mapping or an array
        in ``param_names`` order, e.g. a draw of :meth:`parameter_draws`); with them,
        each linked parameter holds one value per row of ``data``, computed from its
        covariate columns.
        """
        self._check_fitted()
        if params is None:
            params = self.params_
        elif not hasattr(params, "keys"):
            params = dict(zip(self.param_names, np.asarray(params, dtype=float)))
        if not self._has_covariates():
            return params
        design = self._design()
        matrix = covariate_matrix(data, design.covariates, what=f"covariates for {type(self).__name__}")
        return design.row_params(params, matrix)

    def _typical_params(self):
        """Parameters of a customer whose covariates are their means in the fitted data
        (the fitted parameters without covariates)."""
        self._check_fitted()
        if not self._has_covariates():
            return self.params_
        design = self._design()
        means = np.array([[self.covariate_means_[n] for n in design.covariates]])
        return {k: float(np.ravel(v)[0]) if np.ndim(v) else v for k, v in design.row_params(self.params_, means).items()}

    # ----- fitting ------------------------------------------------------------------------
    def fit(self, data, sample_weight=None):
        if not self._has_covariates():
            self.param_names = type(self).param_names
            return super().fit(data, sample_weight)
        return _fit(self, data, sample_weight)

    def summary(self):
        table = super().summary()
        if not self._has_covariates():
            return table
        names = list(self.coefficient_names)
        estimate = self.params_[names].to_numpy()
        positions = [self.param_names.index(n) for n in names]
        se = np.sqrt(np.diag(self._cov_log)[positions])
        table.loc[names, "estimate"] = estimate
        table.loc[names, "std_error"] = se
        table.loc[names, "lower_95"] = estimate - _Z95 * se
        table.loc[names, "upper_95"] = estimate + _Z95 * se
        return table

    def parameter_draws(self, n_draws, random_state=None, *, method="asymptotic", n_jobs=None):
        if not self._has_covariates():
            return super().parameter_draws(n_draws, random_state, method=method, n_jobs=n_jobs)
        self._check_fitted()
        n_draws = check_draws(n_draws)
        if check_draws_method(method) == "bootstrap":
            raise ValueError(
                f"the bootstrap of parameter_draws is not available for {type(self).__name__} with covariates; "
                "use method=\"asymptotic\""
            )
        if not np.all(np.isfinite(self._cov_log)):
            raise ValueError(
                f"{type(self).__name__} has no standard errors (singular Hessian, or a model file "
                "without them), so parameter uncertainty cannot be drawn"
            )
        k = len(type(self).param_names)
        working = self.params_.to_numpy().copy()
        working[:k] = np.log(working[:k])
        rng = np.random.default_rng(random_state)
        draws = rng.multivariate_normal(working, self._cov_log, size=int(n_draws), method="eigh")
        draws[:, :k] = np.exp(draws[:, :k])
        return pd.DataFrame(draws, columns=list(self.param_names))

    def to_dict(self):
        record = super().to_dict()
        record["settings"].update(
            purchase_covariates=list(self.purchase_covariates),
            dropout_covariates=list(self.dropout_covariates),
            covariate_penalizer=float(self.covariate_penalizer),
        )
        if self._has_covariates():
            record["covariate_means"] = {k: float(v) for k, v in self.covariate_means_.items()}
        return record

    @classmethod
    def record_parameters(cls, record):
        """The parameter names a model record of this class must hold and which of them
        (the coefficients) may be any number, from the record's covariate settings."""
        settings = record.get("settings") if isinstance(record.get("settings"), dict) else {}
        lists = [settings.get(f"{p}_covariates") or [] for p in PROCESSES]
        if not all(isinstance(v, list) and all(isinstance(n, str) for n in v) for v in lists):
            return cls.param_names, ()  # the constructor reports the malformed setting
        if not any(lists) or not all(p in cls.covariate_links for p, v in zip(PROCESSES, lists) if v):
            return cls.param_names, ()
        design = Design(cls.param_names, cls.covariate_links, *lists)
        return design.names, design.coefficient_names

    @classmethod
    def from_dict(cls, record):
        model = super().from_dict(record)
        if model._has_covariates():
            # Without recorded means (a model built from parameters), the typical customer has z = 0.
            means = record.get("covariate_means") or {}
            model.covariate_means_ = {n: float(means.get(n, 0.0)) for n in model._design().covariates}
            k = len(cls.param_names)
            jac = np.concatenate([model.params_.to_numpy()[:k], np.ones(len(model.param_names) - k)])
            model.covariance_ = pd.DataFrame(
                model._cov_log * np.outer(jac, jac), index=model.param_names, columns=model.param_names
            )
        return model

    def covariate_effects(self, level=0.95):
        """What each covariate coefficient means, with its interval, in words.

        Returns
        -------
        pandas.DataFrame
            One row per coefficient: ``process``, ``parameter``, ``covariate``,
            ``coefficient``, ``std_error``, ``multiplier`` (exp(coefficient): the factor
            on the quantity per unit of the covariate), ``lower`` and ``upper`` (the
            multiplier's interval at ``level``), ``p_value`` (Wald test of zero) and
            ``meaning`` (e.g. "one unit more of x1 multiplies the purchase rate by 1.3").
            Empty without covariates.
        """
        from scipy import stats

        self._check_fitted()
        columns = ["process", "parameter", "covariate", "coefficient", "std_error", "multiplier", "lower",
                   "upper", "p_value", "meaning"]
        if not self._has_covariates():
            return pd.DataFrame(columns=columns)
        z = stats.norm.ppf(0.5 + level / 2)
        summary = self.summary()
        rows = []
        for link in self._design().links:
            quantity = self.covariate_quantities.get(link.param, f"the parameter {link.param}")
            for covariate, name in zip(link.covariates, link.coefficient_names):
                coef, se = float(summary.loc[name, "estimate"]), float(summary.loc[name, "std_error"])
                multiplier = np.exp(coef)
                rows.append({
                    "process": link.process, "parameter": link.param, "covariate": covariate,
                    "coefficient": coef, "std_error": se, "multiplier": multiplier,
                    "lower": np.exp(coef - z * se), "upper": np.exp(coef + z * se),
                    "p_value": float(2 * stats.norm.sf(abs(coef) / se)) if se > 0 else np.nan,
                    "meaning": f"one unit more of {covariate} multiplies {quantity} by {multiplier:.3g} "
                               f"({level:.0%} interval {np.exp(coef - z * se):.3g} to {np.exp(coef + z * se):.3g})",
                })
        table = pd.DataFrame(rows, columns=columns, index=pd.Index([r for link in self._design().links
                                                                    for r in link.coefficient_names], name="coefficient_name"))
        table.attrs["level"] = level
        return table


def likelihood_ratio_test(restricted, full):
    """Likelihood-ratio test of a model against the same model with more parameters
    (e.g. the plain model against one with covariates), fitted on the same customers.

    Returns
    -------
    pandas.Series
        ``statistic`` (2 (LL_full - LL_restricted)), ``df`` (the number of extra
        parameters) and ``p_value`` (chi-square).
    """
    from scipy import stats

    df = len(full.params_) - len(restricted.params_)
    if df <= 0:
        raise ValueError("the full model must have more parameters than the restricted one")
    statistic = 2.0 * (full.log_likelihood_ - restricted.log_likelihood_)
    return pd.Series({"statistic": statistic, "df": float(df), "p_value": float(stats.chi2.sf(max(statistic, 0.0), df))})


# ----- the fit ---------------------------------------------------------------------------
def _fit(model, data, sample_weight):
    design = model._design()
    model._validate_settings()
    name = type(model).__name__
    arrays = check_rfm(data, model.rfm_columns, what=f"data for {name}")
    matrix = covariate_matrix(data, design.covariates, what=f"covariates for {name}", for_fit=True)
    weights = None if sample_weight is None else check_sample_weight(sample_weight, data)
    used = model._fit_rows(arrays)
    if weights is not None:
        used &= weights > 0
    if not np.any(used):
        raise ValueError(f"invalid data for {name}: no row can be used for fitting")
    if not used.all():
        arrays, matrix = {c: v[used] for c, v in arrays.items()}, matrix[used]
        weights = None if weights is None else weights[used]
    counts = np.ones(len(matrix)) if weights is None else weights
    arrays, matrix, counts = _compressed(model, arrays, matrix, weights, data.attrs.get("time_unit"))

    total = counts.sum()
    means = counts @ matrix / total
    spread = np.sqrt(np.maximum(counts @ (matrix * matrix) / total - means**2, 0.0))
    spread[spread == 0] = 1.0
    standard = (matrix - means) / spread
    k = len(design.base_names)
    plain = type(model)(penalizer=model.penalizer, max_iter=model.max_iter)
    scale = model._time_scale(arrays)
    penalty = float(model.penalizer) * np.array([scale**2 if p in model.time_params else 1.0 for p in design.base_names])

    def objective(rows):
        return _Objective(model.formulas, design, {c: v[rows] for c, v in arrays.items()}, standard[rows],
                          counts[rows], penalty, float(model.covariate_penalizer), model.rfm_columns)

    random = np.random.default_rng(0)
    start = None
    for size in _WARM_START_ROWS:
        if len(counts) <= 2 * size:
            break
        rows = np.sort(random.integers(0, len(counts), size))
        if start is None:
            start = _plain_start(plain, arrays, counts, rows, data.attrs, len(design.coefficient_names))
        part = objective(rows)
        found = _polish(part, start)
        if found is not None:
            start = found[0]
            continue
        try:
            start, _, _ = maximise(part, start, design.names, name, model.max_iter)
        except ConvergenceError:
            pass
    everything = slice(None)
    full = objective(everything)
    found = None if start is None else _polish(full, start)
    if found is None:
        if start is None:
            start = _plain_start(plain, arrays, counts, everything, data.attrs, len(design.coefficient_names))
        point, hessian, info = maximise(full, start, design.names, name, model.max_iter)
        full.evaluate(point, order=0)
    else:
        point, hessian, info = found
    ll = full.last_log_likelihood

    working, cov_working = _on_given_scale(point, hessian * full.total, design, means, spread, name)
    natural = working.copy()
    natural[:k] = np.exp(working[:k])  # the shared parameters were on the log scale
    model.params_ = pd.Series(natural, index=list(design.names), dtype=float)
    model.time_unit_ = data.attrs.get("time_unit")
    model.n_customers_ = float(counts.sum())
    model.n_unique_rows_ = len(counts)
    model.converged_ = True
    model.optimizer_ = info["method"]
    model.n_iter_ = info["n_iter"]
    model.gradient_norm_ = info["gradient_norm"]
    model.log_likelihood_ = float(ll)
    model._cov_log = cov_working
    jac = np.concatenate([natural[:k], np.ones(len(natural) - k)])
    model.covariance_ = pd.DataFrame(cov_working * np.outer(jac, jac), index=list(design.names), columns=list(design.names))
    model.covariate_means_ = dict(zip(design.covariates, (float(m) for m in means)))
    model.metadata_ = {}
    model._check_params()
    return model


def _on_given_scale(point, information, design, means, spread, name):
    """The working parameters and their covariance for the covariates as given.

    The fit used z^s = (z - mean) / sd; theta_k = theta_k^s - sign sum_j coef_j^s mean_j / sd_j
    and coef_j = coef_j^s / sd_j are a linear map A, so the covariance is A C A'
    with C the inverse of the observed ``information`` (NaN, with a warning, where it
    is singular).
    """
    k = len(design.base_names)
    A = np.eye(len(point))
    offset = k
    for link in design.links:
        cols = design.columns_of(link)
        for j, col in enumerate(cols):
            A[offset + j, offset + j] = 1.0 / spread[col]
            A[link.position, offset + j] = -link.sign * means[col] / spread[col]
        offset += len(cols)
    try:
        covariance = np.linalg.inv(information)
        ok = np.all(np.isfinite(covariance)) and np.all(np.diag(covariance) > 0)
    except np.linalg.LinAlgError:
        ok = False
    if not ok:
        warnings.warn(f"{name}: the Hessian at the estimate is singular; standard errors are not available",
                      ModelWarning, stacklevel=4)
        covariance = np.full((len(point),) * 2, np.nan)
    return A @ point, A @ covariance @ A.T


def _polish(objective, start, max_steps=4):
    """Newton steps from a warm start that is already close (a subsample's estimate).

    Once the gradient is below ten times the engine's convergence tolerance
    (``GRADIENT_TOLERANCE``) at a point with a positive definite Hessian, one more
    Newton step is taken without evaluating there (as the engine's last step):
    quadratic convergence puts the gradient there near the square of the one before
    (about 1e-8), and the Hessian of the point before serves the standard errors (it
    differs by the step's relative size, ~1e-4). The log-likelihood is carried over
    by the quadratic model; ``gradient_norm`` is the one measured before the step.
    Returns the point, the Hessian and how it was found; None if a step fails to
    improve (the caller then runs the full cascade of ``maximise``).
    """
    value, gradient, hessian = objective.evaluate(start)
    point = start
    for steps in range(max_steps + 1):
        if gradient is None or not np.all(np.isfinite(hessian)) or np.linalg.eigvalsh(hessian)[0] <= 0:
            return None
        step = -np.linalg.solve(hessian, gradient)
        norm = float(np.max(np.abs(gradient)))
        if norm < 10 * GRADIENT_TOLERANCE:
            predicted = 0.5 * float(gradient @ step)  # change of the objective, <= 0
            gain = objective.penalty_of(point + step) - objective.penalty_of(point)
            objective.last_log_likelihood -= (predicted - gain) * objective.total
            info = {"method": "Newton", "n_iter": steps + 1, "gradient_norm": norm, "objective": value + predicted}
            return point + step, hessian, info
        if steps == max_steps:
            return None
        candidate = point + step
        new_value, new_gradient, new_hessian = objective.evaluate(candidate)
        if not new_value <= value + 1e-12 * max(1.0, abs(value)):
            return None
        point, value, gradient, hessian = candidate, new_value, new_gradient, new_hessian
    return None


def _plain_start(plain, arrays, counts, rows, attrs, n_coefficients):
    """Working parameters of the plain model fitted on ``rows``, coefficients zero."""
    table = pd.DataFrame({c: v[rows] for c, v in arrays.items()})
    table.attrs.update(attrs)
    plain.fit(table, sample_weight=counts[rows])
    return np.concatenate([np.log(plain.params_.to_numpy()), np.zeros(n_coefficients)])


def _compressed(model, arrays, matrix, weights, time_unit):
    """Distinct (history, covariates) rows with summed weights, when a sample shows
    that rows repeat (discrete covariates); else the rows as they are."""
    n = len(matrix)
    counts = np.ones(n) if weights is None else weights
    ticks = _compression_ticks(arrays, model.time_columns, time_unit)
    if ticks is None:
        return arrays, matrix, counts
    columns = {**arrays, **{f"\0covariate{j}": matrix[:, j] for j in range(matrix.shape[1])}}
    stride = max(1, n // _PROBE_ROWS)
    sample = {c: v[::stride] for c, v in columns.items()}
    distinct, _ = compress_rows(sample, ticks_per_unit=ticks)
    if len(next(iter(distinct.values()))) > len(next(iter(sample.values()))) / 2:
        return arrays, matrix, counts
    unique, summed = compress_rows(columns, weights, ticks)
    matrix = np.column_stack([unique[f"\0covariate{j}"] for j in range(matrix.shape[1])])
    return {c: unique[c] for c in arrays}, matrix, summed.astype(float, copy=False)


class _Objective:
    """Mean negative log-likelihood (plus penalties) over the working parameters
    (log shared parameters, coefficients of the standardised covariates), with the
    interface of :class:`clvmodels._optimize.Objective` that ``maximise`` uses.

    Rows are sorted by decreasing frequency first (the sum does not depend on the
    order), so a formula can treat repeat buyers, and those with more than j
    purchases, as prefixes of its arrays. With Z = [1, z] the standardised covariates
    and a constant, every block of the gradient and Hessian is a weighted moment of
    Z, so all of them come from two matrix products per evaluation.
    """

    def __init__(self, formulas, design, columns, standard, weights, penalty, covariate_penalizer, rfm_columns):
        if "frequency" in columns:
            frequency = columns["frequency"]
            small = frequency.max() < 2**15  # a radix sort on 16-bit integers
            order = np.argsort(-(frequency.astype(np.int16) if small else frequency), kind="stable")
            columns = {c: v[order] for c, v in columns.items()}
            standard, weights = standard[order], weights[order]
        self.formulas, self.design = formulas, design
        self.weights = weights
        self.total = float(weights.sum())
        self.penalty = penalty
        self.covariate_penalizer = covariate_penalizer
        self.k = k = len(design.base_names)
        self.analytic = hasattr(formulas, "row_derivatives") and hasattr(formulas, "prepare_rows")
        self.prepared = formulas.prepare_rows(columns) if self.analytic else [columns[c] for c in rfm_columns]
        self.standard = standard
        # Each base parameter's working parameters: (column of Z or None for the
        # parameter itself, its sign, its index in the working vector).
        self.entries = [[(0, 1, position)] for position in range(k)]
        self.shifts = [None] * k
        offset = k
        for link in design.links:
            cols = design.columns_of(link)
            self.entries[link.position] += [(1 + c, link.sign, offset + j) for j, c in enumerate(cols)]
            self.shifts[link.position] = (np.ascontiguousarray(link.sign * standard[:, cols]), offset, offset + len(cols))
            offset += len(cols)
        self.n = offset
        self.moments = np.empty((standard.shape[1] + 1, len(weights)))  # Z', (q + 1) x rows
        self.moments[0] = 1.0
        self.moments[1:] = standard.T
        pairs = [(i, j) for i in range(len(self.moments)) for j in range(i, len(self.moments))]
        self.product_index = {pair: p for p, pair in enumerate(pairs)}
        self.products = np.empty((len(pairs), len(weights)))
        for p, (i, j) in enumerate(pairs):
            np.multiply(self.moments[i], self.moments[j], out=self.products[p])
        self.hess_pairs = [(i, j) for i in range(k) for j in range(i, k)]
        self.last_log_likelihood = np.nan

    def _row_params(self, point):
        params = {}
        for position, name in enumerate(self.design.base_names):
            shift = self.shifts[position]
            if shift is None:
                params[name] = float(np.exp(point[position]))
            else:
                matrix, first, last = shift
                params[name] = np.exp(point[position] + matrix @ point[first:last])
        return params

    def _log_derivatives(self, params, order):
        """Per-row log-likelihood and its derivatives w.r.t. each row's log-parameters."""
        names = self.design.base_names
        if not self.analytic:
            return _numeric_row_derivatives(self.formulas.log_likelihood, params, names, self.prepared, order)
        ll, grad, hess = self.formulas.row_derivatives(params, self.prepared, order)
        if order == 0:
            return ll, None, None
        values = [params[n] for n in names]
        grad_log = [g * v for g, v in zip(grad, values)]
        if order == 1:
            return ll, grad_log, None
        hess_log = {}
        for i, j in self.hess_pairs:
            h = hess.get((i, j))
            entry = 0.0 if h is None else h * (values[i] * values[j])
            hess_log[i, j] = entry + grad_log[i] if i == j else entry
        return ll, grad_log, hess_log

    def evaluate(self, point, order=2):
        point = np.clip(point, -LOG_PARAM_LIMIT, LOG_PARAM_LIMIT)
        k, w = self.k, self.weights
        base = np.exp(point[:k])
        coefficients = point[k:]
        with np.errstate(all="ignore"):
            ll_rows, grad, hess = self._log_derivatives(self._row_params(point), order)
            ll = dot(w, np.broadcast_to(ll_rows, w.shape))
            value = (-ll / self.total + np.sum(self.penalty * base**2)
                     + self.covariate_penalizer * np.sum(coefficients**2))
            if not np.isfinite(value):
                return np.inf, None, None
            self.last_log_likelihood = ll
            if order == 0:
                return value, None, None
            weighted = np.empty((k, len(w)))
            for position in range(k):
                np.multiply(w, grad[position], out=weighted[position])
            first = self.moments @ weighted.T  # (q + 1) x k
            gradient = np.zeros(self.n)
            for position in range(k):
                for column, sign, index in self.entries[position]:
                    gradient[index] += sign * first[column, position] if column else first[0, position]
            gradient = -gradient / self.total
            gradient[:k] += 2 * self.penalty * base**2
            gradient[k:] += 2 * self.covariate_penalizer * coefficients
            if order == 1:
                return value, gradient, None
            weighted = np.empty((len(self.hess_pairs), len(w)))
            for p, pair in enumerate(self.hess_pairs):
                np.multiply(w, hess[pair], out=weighted[p])
            second = self.products @ weighted.T  # moment pairs x parameter pairs
            hessian = np.zeros((self.n, self.n))
            for p, (i, j) in enumerate(self.hess_pairs):
                for column_i, sign_i, index_i in self.entries[i]:
                    for column_j, sign_j, index_j in self.entries[j]:
                        moment = second[self.product_index[min(column_i, column_j), max(column_i, column_j)], p]
                        signed = moment * (sign_i if column_i else 1) * (sign_j if column_j else 1)
                        hessian[index_i, index_j] += signed
                        if i != j:
                            hessian[index_j, index_i] += signed
            hessian = -hessian / self.total
            hessian[np.diag_indices(k)] += 4 * self.penalty * base**2
            hessian[k:, k:] += 2 * self.covariate_penalizer * np.eye(self.n - k)
        return value, gradient, hessian

    def penalty_of(self, point):
        """The penalty terms of the objective at ``point``."""
        return (np.sum(self.penalty * np.exp(2 * point[: self.k]))
                + self.covariate_penalizer * np.sum(point[self.k:] ** 2))

    def value_and_gradient(self, point):
        value, gradient, _ = self.evaluate(point, order=1)
        if not np.isfinite(value) or gradient is None or not np.all(np.isfinite(gradient)):
            return np.inf, np.zeros_like(point)
        return value, gradient


def _numeric_row_derivatives(log_likelihood, params, names, columns, order):
    """Per-row log-likelihood and its derivatives w.r.t. each row's log-parameters by
    central differences (for models without ``row_derivatives``)."""

    def at(shifts):
        shifted = {n: params[n] * np.exp(shifts.get(i, 0.0)) for i, n in enumerate(names)}
        return np.asarray(log_likelihood(shifted, *columns), dtype=float)

    h = _FD_STEP
    ll = at({})
    if order == 0:
        return ll, None, None
    k = len(names)
    plus = [at({i: h}) for i in range(k)]
    minus = [at({i: -h}) for i in range(k)]
    grad = [(p - m) / (2 * h) for p, m in zip(plus, minus)]
    if order == 1:
        return ll, grad, None
    hess = {}
    for i in range(k):
        hess[i, i] = (plus[i] - 2 * ll + minus[i]) / h**2
        for j in range(i + 1, k):
            hess[i, j] = (at({i: h, j: h}) - at({i: h, j: -h}) - at({i: -h, j: h}) + at({i: -h, j: -h})) / (4 * h**2)
    return ll, grad, hess
