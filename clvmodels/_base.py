"""The fitting engine shared by every model.

A model class declares its parameter names, the columns its likelihood needs, which
parameters are measured in units of time, and a ``formulas`` namespace (usually its
own module) of pure functions of a parameter mapping and column arrays: at least
``log_likelihood(params, *columns)``, optionally ``prepare``/``derivatives`` (analytic
derivatives), ``start_params`` and ``fit_rows``. This module does the rest: input
checks, compression of identical rows into weights, time rescaling, maximum
likelihood (``_optimize``; derivatives by finite differences where the model gives
none), standard errors from the Hessian, the summary table and JSON persistence.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from . import _bootstrap
from ._arrays import compress_rows, on_grid
from ._dask import distinct_rows_with_weights
from ._io import read_json_file
from ._intervals import check_draws, check_draws_method
from ._optimize import Objective, finite_difference_derivatives, maximise, maximise_with_boundary
from ._summary import ModelSummary, model_html
from ._units import DAYS_PER_UNIT, check_time_unit, ticks_per_unit
from ._validation import check_format_version, check_model_record, check_rfm, check_sample_weight
from .exceptions import BoundaryWarning, ConvergenceError, ModelWarning, NotFittedError

FORMAT_NAME = "clvmodels-model"
FORMAT_VERSION = 1
# Parameters a model file may hold: far wider than any fit reaches (e^+-40 ~ 1e+-17),
# and narrow enough that every formula stays finite.
PARAM_RANGE = (1e-50, 1e50)
_MODEL_CLASSES = {}
# Bootstrap refits that run off to a boundary are held where every formula stays finite.
_BOOTSTRAP_LOG_LIMIT = 40.0

# A fit on many distinct rows starts from fits on subsamples of these sizes (each one
# used when there are more than twice as many rows), chosen by a hash of the row values.
_WARM_START_ROWS = (2_000, 20_000)
# Without time columns, compression is skipped when a sample of this many rows is
# more than half distinct.
_COMPRESSION_PROBE_ROWS = 10_000
# Clock resolutions tried on tables without a time unit: whole units, days in a week,
# hours in a day, days in a month, quarter and year, hours in a week.
_CANDIDATE_TICKS = (1.0, 7.0, 24.0, DAYS_PER_UNIT["M"], DAYS_PER_UNIT["Q"], DAYS_PER_UNIT["Y"], 168.0)


def time_resolution(columns, time_columns, time_unit=None):
    """Ticks per time unit at which every time column is a whole number of ticks, or None.

    With a known ``time_unit`` that is its clock resolution (7 days a week, as
    :func:`clvmodels.rfm_summary` makes them). Without one (a table read from SQL or a
    CSV), the resolutions of every unit clvmodels knows are tried on the data
    themselves: whole units, days in a week, hours in a day, days in a month, quarter or
    year, hours in a week. Continuous times match none of them.
    """
    if not time_columns:
        return None
    known = ticks_per_unit(time_unit) if time_unit else None
    candidates = (known,) if known else _CANDIDATE_TICKS
    for ticks in candidates:
        if all(on_grid(columns[name], ticks) for name in time_columns):
            return ticks
    return None


def _compression_ticks(columns, time_columns, time_unit):
    """Tick sizes for :func:`compress_rows` if compressing is likely to pay, else None.

    Times at a clock resolution (days in weeks, whether the table came from
    :func:`clvmodels.rfm_summary` or not, see :func:`time_resolution`) take few
    distinct values, so rows repeat; continuous times almost never do. Without time
    columns, a strided sample of the rows decides.
    """
    ticks = {"frequency": 1.0} if "frequency" in columns else {}
    if time_columns:
        per_unit = time_resolution(columns, time_columns, time_unit)
        if per_unit is None:
            return None
        return {**ticks, **{name: per_unit for name in time_columns}}
    n = len(next(iter(columns.values())))
    stride = max(1, n // _COMPRESSION_PROBE_ROWS)
    sample = {name: values[::stride] for name, values in columns.items()}
    _, counts = compress_rows(sample, ticks_per_unit=ticks)
    return ticks if len(counts) <= len(next(iter(sample.values()))) / 2 else None


class BaseModel:
    """Base class of the clvmodels models: maximum likelihood over log-parameters.

    Subclasses set ``param_names``, ``rfm_columns`` (the data columns, in the order
    the formulas take them), ``time_params`` (parameters measured in units of time,
    which scale like the time columns: x 7 from weeks to days, e.g. the rate
    parameter alpha of a Gamma-distributed purchase rate), ``time_columns`` (columns
    measured in time) and ``formulas``, a namespace of pure functions:

    ``log_likelihood(params, *columns)``
        Per-row log-likelihood (required).
    ``prepare(columns, weights)`` and ``derivatives(params, prepared, order)``
        Optional analytic derivatives: the weighted total log-likelihood and, for
        ``order`` 1 and 2, its gradient and Hessian w.r.t. the parameters in
        ``param_names`` order (Hessian None: differentiated numerically). Without
        them the engine differentiates ``log_likelihood`` by finite differences.
    ``start_params(columns, weights)``, ``fit_rows(columns)``
        Optional start values (default all ones) and the mask of rows the
        likelihood uses (default all).

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
    formulas = None

    def __init__(self, *, penalizer=0.0, max_iter=2000):
        self.penalizer = penalizer
        self.max_iter = max_iter

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.param_names:
            _MODEL_CLASSES[cls.__name__] = cls

    # ----- hooks, answered from ``formulas`` ----------------------------------------------
    def _param_mapping(self, params):
        return dict(zip(self.param_names, (float(v) for v in params)))

    def _fit_rows(self, arrays):
        """Boolean mask of the rows the likelihood uses (all by default)."""
        fit_rows = getattr(self.formulas, "fit_rows", None)
        if fit_rows is not None:
            return fit_rows(arrays)
        return np.ones(len(next(iter(arrays.values()))), dtype=bool)

    def _start_params(self, columns, weights):
        start = getattr(self.formulas, "start_params", None)
        if start is not None:
            return np.asarray(start(columns, weights), dtype=float)
        return np.ones(len(self.param_names))

    def _prepare(self, columns, weights):
        """What ``_derivatives`` needs from the (distinct) rows."""
        prepare = getattr(self.formulas, "prepare", None)
        if prepare is not None and hasattr(self.formulas, "derivatives"):
            return prepare(columns, weights)
        return {"columns": [columns[c] for c in self.rfm_columns], "w": weights}

    def _derivatives(self, params, prepared, order):
        """Weighted total log-likelihood and, for ``order`` 1 and 2, its gradient and
        Hessian w.r.t. the natural parameters (Hessian None: taken numerically)."""
        analytic = getattr(self.formulas, "derivatives", None)
        if analytic is not None and getattr(self.formulas, "prepare", None) is not None:
            return analytic(params, prepared, order)
        columns, weights = prepared["columns"], prepared["w"]

        def total(values):
            per_row = self.formulas.log_likelihood(self._param_mapping(values), *columns)
            return float(np.einsum("i,i->", weights, per_row))

        return finite_difference_derivatives(total, params, order)

    def _check_params(self):
        """Warn about fitted parameters that make some predictions meaningless."""

    # ----- fitting ----------------------------------------------------------------------
    def fit(self, data, sample_weight=None):
        """Fit the model by maximum likelihood.

        Parameters
        ----------
        data : pandas.DataFrame or dask.dataframe.DataFrame
            One row per customer (or per distinct history, with ``sample_weight``)
            holding the model's RFM columns, e.g. the output of
            :func:`clvmodels.rfm_summary`. ``data.attrs["time_unit"]`` is remembered.
            A Dask DataFrame is reduced in the cluster to its distinct rows with
            their counts, and that small table is fitted here: the same fit.
        sample_weight : array-like or str, optional
            Number of customers each row stands for, or the name of a column holding
            it (the only form a Dask DataFrame takes). Fitting unique rows with their
            counts gives exactly the full fit.

        Returns
        -------
        self
        """
        data, sample_weight = distinct_rows_with_weights(data, self.rfm_columns, sample_weight)
        self._validate_settings()
        arrays = check_rfm(data, self.rfm_columns, what=f"data for {type(self).__name__}")
        weights = None if sample_weight is None else check_sample_weight(sample_weight, data)
        used = self._fit_rows(arrays)
        if weights is not None:
            used &= weights > 0
        if not used.all():
            arrays = {c: v[used] for c, v in arrays.items()}
            weights = None if weights is None else weights[used]
        self._check_enough_data(arrays, weights)
        ticks = _compression_ticks(arrays, self.time_columns, data.attrs.get("time_unit"))
        if ticks is not None:
            columns, counts = compress_rows(arrays, weights, ticks)
            counts = counts.astype(float, copy=False)
        else:
            columns = arrays
            counts = np.ones(len(next(iter(arrays.values())))) if weights is None else weights

        # In log-parameters, measuring time in other units only translates the time
        # parameters; the data stay as they are and the start values and the penalty
        # are set in units where the longest observation period is 10.
        time_shift = np.array([np.log(self._time_scale(columns)) if p in self.time_params else 0.0 for p in self.param_names])
        log_params, hessian, info, ll = self._maximise(columns, counts, time_shift)
        # What a bootstrap over customers resamples (parameter_draws(method="bootstrap")).
        self._fit_rows_ = {"columns": columns, "counts": counts, "time_shift": time_shift}

        self.params_ = pd.Series(np.exp(log_params), index=list(self.param_names), dtype=float)
        self.time_unit_ = data.attrs.get("time_unit")
        self.n_customers_ = float(counts.sum())
        self.n_unique_rows_ = len(counts)
        self.converged_ = True
        self.optimizer_ = info["method"]
        self.n_iter_ = info["n_iter"]
        self.gradient_norm_ = info["gradient_norm"]
        self.log_likelihood_ = ll
        self.at_boundary_, self.boundary_notes_ = self._describe_divergence(info["divergent"])
        if self.at_boundary_:
            self.optimizer_ = f"{info['method']}, then held at the boundary"
            hessian = info["basis"] @ hessian @ info["basis"].T
        self.covariance_ = self._covariance(hessian, log_params)
        self.metadata_ = {}
        if self.at_boundary_:
            self._warn_boundary()
        self._check_params()
        return self

    # ----- too little data and maxima at infinity ---------------------------------------
    # What the rows the likelihood uses are called in messages, and how many customers a
    # fit needs at least (default: one more than the model has parameters).
    fit_rows_label = "customers"
    min_customers = None

    def _minimum_customers(self):
        return self.min_customers or len(self.param_names) + 1

    def _check_enough_data(self, arrays, weights):
        """A ValueError when the data cannot identify the parameters at all."""
        n = len(next(iter(arrays.values())))
        count = float(n if weights is None else weights.sum())
        needed = self._minimum_customers()
        if count < needed:
            raise ValueError(
                f"too little data for {type(self).__name__}: it needs at least {needed} {self.fit_rows_label} "
                f"to estimate its {len(self.param_names)} parameters ({', '.join(self.param_names)}), "
                f"the data has {count:g}"
            )

    def _describe_divergence(self, directions):
        """Names of the parameters at infinity or zero and one phrase per direction."""
        names, notes = [], []
        for direction in directions:
            moving = [(self.param_names[i], direction[i]) for i in np.flatnonzero(np.abs(direction) > 1e-6)]
            names.extend(name for name, _ in moving if name not in names)
            ups = [name for name, d in moving if d > 0]
            downs = [name for name, d in moving if d < 0]
            parts = []
            if ups:
                parts.append(f"{' and '.join(ups)} {'grow' if len(ups) > 1 else 'grows'} without bound")
            if downs:
                parts.append(f"{' and '.join(downs)} {'shrink' if len(downs) > 1 else 'shrinks'} to 0")
            notes.append(" while ".join(parts) + (" together" if len(moving) > 1 and not (ups and downs) else ""))
        return [n for n in self.param_names if n in names], notes

    def _warn_boundary(self):
        values = ", ".join(f"{n} = {self.params_[n]:.3g}" for n in self.at_boundary_)
        warnings.warn(
            f"{type(self).__name__}: the likelihood keeps rising as {'; '.join(self.boundary_notes_)}: "
            f"the maximum is the limiting model, which the fit returns ({values}, far enough out that "
            "predictions are the limit's). Their standard errors are not defined; see at_boundary_ "
            "and summary()",
            BoundaryWarning,
            stacklevel=3,
        )

    def _maximise(self, columns, counts, time_shift):
        """Fit on the distinct rows, warm-started from subsample fits when they are many.

        Returns the log-parameters, the Hessian of the total log-likelihood w.r.t.
        them, how they were found, and the total log-likelihood.
        """
        start = np.log(self._start_params(columns, counts)) - time_shift
        name = type(self).__name__
        ranks = None
        for size in _WARM_START_ROWS:
            if len(counts) <= 2 * size:
                break
            ranks = _row_hashes(columns, counts) if ranks is None else ranks
            rows = _rows_of_smallest(ranks, size)
            subsample = self._objective({c: v[rows] for c, v in columns.items()}, counts[rows], time_shift)
            try:
                start, _, _ = maximise(subsample, start, self.param_names, name, self.max_iter)
            except ConvergenceError:
                pass  # the full data may still identify the model
        objective = self._objective(columns, counts, time_shift)
        log_params, hessian, info = maximise_with_boundary(objective, start, self.param_names, name, self.max_iter, shift=time_shift)
        ll = float(objective.log_likelihood(log_params, info["objective"]))
        return log_params, -hessian * objective.total, info, ll

    def _objective(self, columns, counts, time_shift):
        return Objective(
            self._derivatives, self._prepare(columns, counts), counts.sum(), float(self.penalizer),
            penalty_scale=np.exp(time_shift),
        )

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
        """Covariance of the natural parameters by the delta method, from the Hessian of
        the total log-likelihood w.r.t. log-parameters."""
        names = list(self.param_names)
        boundary = [names.index(n) for n in getattr(self, "at_boundary_", [])]
        try:
            # At the boundary the Hessian is that of the free directions (singular in
            # the divergent ones), so its pseudo-inverse is the covariance given the limit.
            cov_log = np.linalg.pinv(-hessian_log, hermitian=True) if boundary else np.linalg.inv(-hessian_log)
        except np.linalg.LinAlgError:
            cov_log = np.full((len(names), len(names)), np.nan)
        if boundary:
            cov_log[boundary, :] = np.nan
            cov_log[:, boundary] = np.nan
        free = [i for i in range(len(names)) if i not in boundary]
        sub = cov_log[np.ix_(free, free)]
        if np.any(np.diag(sub) < 0) or not np.all(np.isfinite(sub)):
            warnings.warn(
                f"{type(self).__name__}: the Hessian at the estimate is singular or not "
                "negative definite; standard errors are not available",
                ModelWarning,
                stacklevel=3,
            )
            cov_log = np.full((len(names), len(names)), np.nan)
        self._cov_log = cov_log
        jac = np.exp(log_params)
        with np.errstate(over="ignore", invalid="ignore"):  # NaN rows of parameters at the boundary
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

    def parameter_draws(self, n_draws, random_state=None, *, method="asymptotic", n_jobs=None):
        """Draws of the parameters from their sampling distribution.

        ``method="asymptotic"``: the log-parameters are multivariate normal around the
        estimate with the inverse of the observed information as covariance (the same
        approximation as the standard errors of :meth:`summary`); exponentiating keeps
        every draw positive.

        ``method="bootstrap"``: each draw is the maximum-likelihood fit to the
        customers resampled with replacement (Efron & Tibshirani 1993, ch. 6; the
        bootstrap CLVTools offers). On the fitted table of distinct histories with
        their counts a resample is a multinomial draw of the counts, and each refit
        starts from the estimate, so a draw costs a few Newton steps. Draws are
        computed in parallel over ``n_jobs`` worker threads and are the same
        whatever ``n_jobs``: each comes from its own random stream seeded from
        ``random_state``. Needs the data the model was fitted on (a model read from a
        file has only its parameters) and a model without covariates.

        Parameters
        ----------
        n_draws : int
            At least 2.
        random_state : int or numpy.random.Generator, optional
        method : {"asymptotic", "bootstrap"}, default "asymptotic"
        n_jobs : int, optional
            Worker threads of the bootstrap (default: one per core, at most
            ``n_draws``; 1 computes in this process). Ignored by "asymptotic".

        Returns
        -------
        pandas.DataFrame
            One row per draw, one column per parameter.

        Raises
        ------
        ValueError
            For a method other than the two, ``n_draws`` < 2, when the fit gave no
            standard errors (asymptotic: singular Hessian, or a model file saved
            without them), or when the bootstrap has no fitted data to resample.
        """
        self._check_fitted()
        method = check_draws_method(method)
        n_draws = check_draws(n_draws)
        if method == "bootstrap":
            return self._bootstrap_draws(n_draws, random_state, n_jobs)
        cov = self._cov_log
        if not np.all(np.isfinite(cov)):
            raise ValueError(
                f"{type(self).__name__} has no standard errors (singular Hessian, or a model file "
                "without them), so parameter uncertainty cannot be drawn"
            )
        rng = np.random.default_rng(random_state)
        log_draws = rng.multivariate_normal(np.log(self.params_.to_numpy()), cov, size=int(n_draws), method="eigh")
        return pd.DataFrame(np.exp(log_draws), columns=list(self.param_names))

    def _bootstrap_job(self):
        """The refit of one bootstrap resample, as a function of its seed."""
        fitted = getattr(self, "_fit_rows_", None)
        if fitted is None:
            raise ValueError(
                f"a bootstrap of {type(self).__name__} resamples the data it was fitted on, which a model "
                "read from a file or unpickled does not hold: fit the model again, or use method=\"asymptotic\""
            )
        return _BootstrapJob(self, fitted, np.log(self.params_.to_numpy()))

    def _bootstrap_draws(self, n_draws, random_state, n_jobs):
        job = self._bootstrap_job()
        seeds = np.random.default_rng(random_state).integers(0, 2**63 - 1, size=n_draws)
        log_draws = _bootstrap.run(job, seeds, n_jobs)
        return pd.DataFrame(np.exp(log_draws), columns=list(self.param_names))

    def summary(self):
        """Parameter table (estimate, standard error and 95% interval) with the fit's
        facts: a :class:`clvmodels._summary.ModelSummary`, a DataFrame that prints as a
        statsmodels-like summary (``print(model.summary())``) and renders as HTML in
        notebooks.

        The interval is computed on the log scale, ``exp(log(est) +- 1.96 se_log)``,
        so it never contains negative values. Parameters at the boundary (see
        ``at_boundary_``) have no standard error or interval.

        Returns
        -------
        ModelSummary
            Indexed by parameter name with columns ``estimate``, ``std_error``,
            ``lower_95`` and ``upper_95``; ``attrs`` holds model, title, data,
            log_likelihood, n_customers, n_unique_rows, n_params, aic, bic, optimizer,
            converged, at_boundary, boundary_notes, time_unit and reference.
        """
        self._check_fitted()
        estimate = self.params_.to_numpy()
        se_log = np.sqrt(np.diag(self._cov_log))
        z = 1.959963984540054
        table = ModelSummary(
            {
                "estimate": estimate,
                "std_error": estimate * se_log,
                "lower_95": estimate * np.exp(-z * se_log),
                "upper_95": estimate * np.exp(z * se_log),
            },
            index=pd.Index(self.param_names, name="parameter"),
        )
        k = len(self.param_names)
        ll, n = self.log_likelihood_, self.n_customers_
        have = ll is not None and n is not None and n > 0
        table.attrs.update(
            model=type(self).__name__,
            title=getattr(self, "title", None),
            data=(self.metadata_ or {}).get("data"),
            log_likelihood=ll,
            n_customers=n,
            n_unique_rows=getattr(self, "n_unique_rows_", None),
            fit_rows_label=self.fit_rows_label,
            n_params=k,
            aic=2 * k - 2 * ll if have else None,
            bic=k * np.log(n) - 2 * ll if have else None,
            optimizer=getattr(self, "optimizer_", None),
            converged=getattr(self, "converged_", True),
            at_boundary=list(getattr(self, "at_boundary_", [])),
            boundary_notes=list(getattr(self, "boundary_notes_", [])),
            time_unit=self.time_unit_,
            time_params=bool(self.time_params),
            reference=getattr(self, "reference", None),
        )
        return table

    def _repr_html_(self):
        return model_html(self)

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

    def _ticks_per_unit(self, data):
        """Time resolution of ``data`` (days per unit; 1 for hours): from its time unit,
        else detected from its time columns (see :func:`time_resolution`)."""
        unit = data.attrs.get("time_unit") or self.time_unit_
        if unit or not self.time_columns:
            return ticks_per_unit(unit)
        try:
            columns = {name: np.asarray(data[name], dtype=float) for name in self.time_columns}
        except (KeyError, TypeError, ValueError):
            return None
        return time_resolution(columns, self.time_columns)

    def _series(self, values, data, name):
        return pd.Series(values, index=data.index, name=name)

    # ----- persistence ----------------------------------------------------------------
    def __getstate__(self):
        """Pickle the fitted model without its fitting data: a model sent to workers (Dask,
        joblib) carries its parameters, never the customers it was fitted on."""
        state = dict(self.__dict__)
        state.pop("_fit_rows_", None)
        return state

    def to_dict(self):
        """The fitted model as a JSON-serialisable dict (no customer data inside)."""
        from ._version import __version__

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
            "at_boundary": list(getattr(self, "at_boundary_", [])),
            "boundary_notes": list(getattr(self, "boundary_notes_", [])),
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
        model.at_boundary_ = [str(n) for n in record.get("at_boundary") or [] if n in names]
        model.boundary_notes_ = [str(n) for n in record.get("boundary_notes") or []]
        cov = record.get("covariance_log_params")
        cov_log = (
            np.array([[np.nan if v is None else v for v in row] for row in cov], dtype=float)
            if cov is not None else np.full((len(names),) * 2, np.nan)
        )
        model._cov_log = cov_log
        jac = model.params_.to_numpy()
        with np.errstate(over="ignore", invalid="ignore"):
            model.covariance_ = pd.DataFrame(cov_log * np.outer(jac, jac), index=names, columns=names)
        return model


def _row_hashes(columns, counts):
    """A 64-bit hash of each row's values (and count): the same row gets the same hash
    wherever it stands, so subsamples chosen by hash do not depend on row order."""
    hashes = np.full(len(counts), 0x9E3779B97F4A7C15, dtype=np.uint64)
    for values in (*columns.values(), counts):
        bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
        hashes ^= bits
        hashes *= np.uint64(0xBF58476D1CE4E5B9)  # splitmix64's mixing steps (wrap around)
        hashes ^= hashes >> np.uint64(31)
    return hashes


def _rows_of_smallest(hashes, size):
    """Positions of the ``size`` rows with the smallest hashes, in hash order: O(n)."""
    rows = np.argpartition(hashes, size)[:size]
    return rows[np.argsort(hashes[rows], kind="stable")]


def _nan_to_none(matrix):
    return [[None if not np.isfinite(v) else float(v) for v in row] for row in np.asarray(matrix)]


def load_model(path):
    """Read a model written by ``save``.

    Raises
    ------
    ValueError
        If the file is not JSON written by clvmodels, names an unknown model or holds
        invalid parameters.
    """
    record = read_json_file(path, "clvmodels model file")
    try:
        return model_from_dict(record)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def model_from_dict(record):
    """Rebuild a fitted model from :meth:`BaseModel.to_dict` output, checking it first.

    Raises
    ------
    ValueError
        If ``record`` is not a clvmodels model, comes from a newer version, names an
        unknown model, or has missing or non-positive parameters.
    """
    if not isinstance(record, dict) or record.get("format") != FORMAT_NAME:
        raise ValueError(f"not a clvmodels model file (no '\"format\": \"{FORMAT_NAME}\"' entry)")
    check_format_version(record.get("format_version"), FORMAT_VERSION)
    name = record.get("model")
    cls = _MODEL_CLASSES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(_MODEL_CLASSES))}")
    # A model with covariates has their coefficients too (named from its settings), of any sign.
    names, unbounded = cls.record_parameters(record) if hasattr(cls, "record_parameters") else (cls.param_names, ())
    check_model_record(record, names, cls, unbounded)
    try:
        model = cls.from_dict(record)
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"{cls.__name__} record is incomplete or malformed ({error})") from None
    unbounded = getattr(model, "coefficient_names", ())  # covariate coefficients may be any number
    bad = [name for name, value in model.params_.items()
           if not (np.isfinite(value) and (value > 0 or name in unbounded))]
    if bad:
        raise ValueError(f"parameter {bad[0]!r} must be a finite number > 0")
    out_of_range = [name for name, value in model.params_.items()
                    if name not in unbounded and not PARAM_RANGE[0] <= value <= PARAM_RANGE[1]]
    if out_of_range:
        name = out_of_range[0]
        raise ValueError(
            f"parameter {name!r} = {model.params_[name]:.3g} is outside [{PARAM_RANGE[0]:g}, {PARAM_RANGE[1]:g}], "
            "the range clvmodels evaluates its formulas over (a fit stays within [1e-17, 1e17])"
        )
    return model


class _BootstrapJob:
    """One bootstrap refit per seed: a multinomial resample of the fitted distinct rows'
    counts, maximised from ``start``."""

    def __init__(self, model, fitted, start):
        self.model = model
        self.columns = fitted["columns"]
        self.counts = np.asarray(fitted["counts"], dtype=float)
        self.time_shift = fitted["time_shift"]
        self.start = start

    def __call__(self, seed):
        rng = np.random.default_rng(seed)
        total = self.counts.sum()
        n = max(int(round(total)), 1)
        resampled = rng.multinomial(n, self.counts / total).astype(float) * (total / n)
        kept = resampled > 0
        columns = {c: v[kept] for c, v in self.columns.items()}
        model = self.model
        objective = model._objective(columns, resampled[kept], self.time_shift)
        try:
            log_params, _, _ = maximise_with_boundary(objective, self.start, model.param_names,
                                                      f"{type(model).__name__} (bootstrap resample)",
                                                      model.max_iter, shift=self.time_shift)
        except ConvergenceError as error:
            if getattr(error, "best_point", None) is None:
                raise
            log_params = error.best_point
        return np.clip(log_params, -_BOOTSTRAP_LOG_LIMIT, _BOOTSTRAP_LOG_LIMIT)
