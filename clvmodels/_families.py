"""The public prediction API of each model family, shared by every model in it.

:class:`TransactionModel` (purchase models: BG/NBD, Pareto/NBD, MBG/NBD, ...) and
:class:`SpendModel` (Gamma-Gamma) own the public methods, their input checks and the
guarantee that no prediction is NaN or infinite. They call the pure functions of the
model's ``formulas`` namespace (its module) with a parameter mapping and the data's
columns in ``rfm_columns`` order, so a model is one module: parameter names, columns,
log-likelihood and prediction formulas. Evaluation, plots, segments, CLV, the report
and the CLI use only these methods.

Formulas a transaction model provides (times in the model's time unit):

``expected_purchases(params, t, *columns, ticks_per_unit=None)``
    E[X(T, T + t) | history].
``probability_alive(params, *columns)``
    P(alive at the end of observation | history).
``expected_purchases_new_customer(params, t)``
    E[X(t)] for a customer just acquired.
``probability_of_purchases(params, n, t)``
    P(X(t) = n) for a customer just acquired.
``conditional_probability_of_purchases(params, n, t, *columns)``
    P(X(T, T + t) = n | history), broadcasting ``n`` against the customers.
``sample(params, T, random_state)``
    Histories drawn from the model, a DataFrame with the model's columns.
``mixing_distributions(params)``
    The population distributions of the model's latent traits (for plots).
``scale_dropout(params, factor)``
    Parameters whose mean dropout rate is ``factor`` times as large.
``discounted_expected_purchases(params, times, discounts, *columns, ticks_per_unit=None)``
    Optional: a faster sum of discounted increments of ``expected_purchases``.
``sample_future_purchases(params, period_ends, *columns, random_state)``
    Purchases per future period drawn given each history (for value intervals).
``sample_future_buyers(params, period_ends, *columns, random_state)``
    Optional: the same draw for the customers who buy only, as their positions and
    their (buyers, periods) counts; the value simulation then works on the buyers.
``survival_if_alive(params, t, floor, *state_columns)``
    Optional, with the class attribute ``alive_state_columns``: P(X(T, T + t) > k |
    alive at T) for k = 0, 1, ... per distinct state (the columns that, given the
    customer is alive, fix her future), as the ragged table of
    :func:`clvmodels._intervals.survival_table`; parameters may hold one value per
    draw (shape (draws, 1)). The purchase quantiles then cost a table per state and
    a short scan per distinct history.

A spend model provides ``expected_spend``, ``population_mean_spend``, ``sample``,
``log_likelihood`` and ``sample_future_spend(params, counts, *columns, random_state)``.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import _intervals
from ._arrays import distinct_rows, distinct_with_inverse
from ._base import _MODEL_CLASSES, BaseModel
from ._covariates import CovariateMixin, take_rows
from ._validation import check_positive_number, check_times


@dataclass(frozen=True)
class Mixing:
    """A latent trait's distribution across customers, as a model describes it.

    Attributes
    ----------
    distribution : scipy.stats frozen distribution
        Its density over the trait's values.
    label : str
        The distribution with its parameters, e.g. "Gamma(r = 0.243, α = 4.41)".
    quantity : str
        What the trait is, e.g. "purchase rate while alive, λ".
    per_time : bool
        Whether the trait is a rate per unit of time (its axis then names the unit).
    bounded : bool
        Whether the trait is a probability on [0, 1].
    """

    distribution: object
    label: str
    quantity: str
    per_time: bool = False
    bounded: bool = False


def _checked_n(n):
    n = np.asarray(n, dtype=float)
    if np.any(~np.isfinite(n) | (n < 0) | (n != np.round(n))):
        raise ValueError("n must hold whole numbers >= 0")
    return n


def require_finite(values, model, what):
    """``values`` if all are finite; else a ``FloatingPointError`` naming the prediction.

    A guard, not a fix: every formula is written to stay finite, and this makes sure a
    failure is never silent.
    """
    values = np.asarray(values, dtype=float)
    bad = ~np.isfinite(values)
    if np.any(bad):
        params = ", ".join(f"{k}={v:.6g}" for k, v in model.params_.items())
        raise FloatingPointError(
            f"{type(model).__name__}.{what} gave {int(bad.sum())} non-finite values at {params}; "
            "this is a bug in clvmodels, please report it with these parameters"
        )
    return values


class TransactionModel(CovariateMixin, BaseModel):
    """Base class of the purchase (transaction) models.

    Subclasses declare ``param_names``, ``rfm_columns``, ``time_params``,
    ``time_columns``, ``formulas`` (see the module docstring) and, for reports and the
    command line, ``key`` (a short name such as "bgnbd"), ``title`` (e.g. "BG/NBD")
    and ``param_descriptions`` (one phrase per parameter). Models whose formulas take
    one value of some parameters per customer declare ``covariate_links`` and accept
    the settings ``purchase_covariates``, ``dropout_covariates`` and
    ``covariate_penalizer`` (see :class:`clvmodels._covariates.CovariateMixin`); with
    covariates, every method taking ``data`` needs the covariate columns in it.
    """

    key = None
    title = None
    reference = None
    param_descriptions = {}
    # Parameters in the model's time unit from which ``sample`` then ``fit`` recovers
    # them on a few thousand customers; used by the generic model tests and examples.
    example_params = {}
    # The column holding each customer's observation length (what ``sample`` takes
    # as ``T`` and ``probability_of_purchases`` as ``t``): "T", or e.g. "n_periods".
    length_column = "T"
    # The columns that, given the customer is alive at the end of observation, fix the
    # distribution of her future purchases (e.g. frequency and T): with the formula
    # ``survival_if_alive`` the purchase quantiles are computed once per such state.
    alive_state_columns = None

    # ----- helpers ----------------------------------------------------------------------
    def history(self, data):
        """The model's columns of ``data``, checked, as float arrays in ``rfm_columns``
        order: what the ``formulas`` take after the parameters."""
        arrays = self._rfm(data, self.rfm_columns)
        return [arrays[c] for c in self.rfm_columns]

    _history = history

    def _finite_series(self, values, data, name):
        return self._series(require_finite(values, self, name), data, name)

    def _scalar_or_array(self, values, what):
        values = require_finite(values, self, what)
        return float(values) if values.ndim == 0 else values

    # ----- conditional on each customer's history --------------------------------------
    def expected_purchases(self, data, t, *, interval=None, n_draws=200, random_state=0,
                           interval_method="asymptotic"):
        """Expected purchases in the next ``t`` time units, given each customer's history.

        Parameters
        ----------
        data : pandas.DataFrame
            One row per customer with the model's columns (``rfm_columns``), in the
            model's time unit.
        t : float
            Horizon in the model's time unit (``time_unit_``).
        interval : float, optional
            With e.g. 0.9, also a 90% interval of the expectation from the parameters'
            sampling uncertainty (``n_draws`` draws, see :meth:`parameter_draws`).
        interval_method : {"asymptotic", "bootstrap"}, default "asymptotic"
            How the parameters are drawn (:meth:`parameter_draws`' ``method``).

        Returns
        -------
        pandas.Series or pandas.DataFrame
            On ``data.index``; with ``interval``, a DataFrame with columns
            ``estimate``, ``lower``, ``upper`` and the interval of the total over
            customers in ``attrs["total"]``.
        """
        if interval is not None:
            return _intervals.parameter_interval(
                self, lambda model, rows: model.expected_purchases(rows, t), data, interval, n_draws, random_state,
                method=interval_method,
            )
        history = self._history(data)
        t = check_positive_number(t, "t", allow_zero=True)
        values = self.formulas.expected_purchases(
            self.formula_params(data), t, *history, ticks_per_unit=self._ticks_per_unit(data)
        )
        return self._finite_series(values, data, "expected_purchases")

    def probability_alive(self, data, *, interval=None, n_draws=200, random_state=0, interval_method="asymptotic"):
        """Probability that each customer is still active at the end of observation.

        ``interval`` (e.g. 0.9) adds an interval from the parameters' sampling
        uncertainty, as in :meth:`expected_purchases` (``n_draws``, ``random_state``,
        ``interval_method`` likewise).

        Returns
        -------
        pandas.Series or pandas.DataFrame
            On ``data.index``, values in [0, 1] (a DataFrame with ``interval``).
        """
        if interval is not None:
            return _intervals.parameter_interval(
                self, lambda model, rows: model.probability_alive(rows), data, interval, n_draws, random_state,
                method=interval_method,
            )
        history = self._history(data)
        values = self.formulas.probability_alive(self.formula_params(data), *history)
        return self._finite_series(np.clip(values, 0.0, 1.0), data, "probability_alive")

    def conditional_probability_of_purchases(self, data, n, t):
        """P(X(T, T + t) = n | history): probability of exactly ``n`` purchases in the
        next ``t`` time units, for each customer.

        Parameters
        ----------
        data : pandas.DataFrame
            The model's columns, one row per customer.
        n : int or array-like of int
            Number(s) of purchases.
        t : float
            Horizon in the model's time unit.

        Returns
        -------
        pandas.Series or pandas.DataFrame
            A Series on ``data.index`` for a single ``n``; for several, a DataFrame
            with one column per ``n``.
        """
        history = self._history(data)
        t = check_positive_number(t, "t", allow_zero=True)
        n = _checked_n(n)
        params = self.formula_params(data)
        if n.ndim == 0:
            values = self.formulas.conditional_probability_of_purchases(params, n, t, *history)
            return self._finite_series(np.clip(values, 0.0, 1.0), data, "probability")
        counts = n.reshape(-1)
        values = self.formulas.conditional_probability_of_purchases(
            params, counts[:, None], t, *(column[None, :] for column in history)
        )
        values = np.clip(require_finite(values, self, "conditional_probability_of_purchases"), 0.0, 1.0)
        return pd.DataFrame(values.T, index=data.index, columns=pd.Index(counts.astype(np.int64), name="n"))

    def purchases_interval(self, data, t, level=0.9, *, n_draws=0, random_state=0,
                           chunk_size=_intervals.DEFAULT_CHUNK, interval_method="asymptotic"):
        """Per-customer quantiles of the purchases X(T, T + t) in the next ``t`` time units.

        From the closed-form predictive distribution given each history
        (:meth:`conditional_probability_of_purchases`). With ``n_draws`` > 0 the
        distribution is averaged over that many draws of the parameters
        (:meth:`parameter_draws`), which adds their sampling uncertainty. Counts are
        whole numbers, so each tail of the interval holds at most (1 - level) / 2.

        Parameters
        ----------
        data : pandas.DataFrame
            The model's columns, one row per customer.
        t : float
            Horizon in the model's time unit.
        level : float, default 0.9
            Central coverage of the interval.
        n_draws : int, default 0
            Parameter draws to average over (0: the fitted parameters only).
        random_state : int or numpy.random.Generator, optional
        chunk_size : int, default 65536
            Bounds memory: about this many (parameter draw, distinct history) pairs
            are handled at once. The quantiles do not depend on it.
        interval_method : {"asymptotic", "bootstrap"}, default "asymptotic"
            How the parameters are drawn (:meth:`parameter_draws`' ``method``).

        Returns
        -------
        pandas.DataFrame
            On ``data.index``, integer columns ``lower``, ``median`` and ``upper``.
        """
        level = _intervals.check_level(level)
        quantiles = self.purchase_quantiles(data, t, _intervals.tail_probabilities(level), n_draws=n_draws,
                                            random_state=random_state, chunk_size=chunk_size,
                                            interval_method=interval_method)
        table = pd.DataFrame(quantiles.to_numpy(), index=data.index, columns=["lower", "median", "upper"])
        table.attrs.update(level=level, t=quantiles.attrs["t"], n_draws=int(n_draws))
        return table

    def purchase_quantiles(self, data, t, probabilities, *, n_draws=0, random_state=0,
                           chunk_size=_intervals.DEFAULT_CHUNK, interval_method="asymptotic"):
        """Per-customer quantiles of X(T, T + t): for each probability p, the smallest n
        with P(X <= n | history) >= p (see :meth:`purchases_interval`).

        Returns
        -------
        pandas.DataFrame
            On ``data.index``, one integer column per probability.
        """
        history = self._history(data)
        t = check_positive_number(t, "t", allow_zero=True)
        probabilities = np.asarray(probabilities, dtype=float).reshape(-1)
        if np.any(~((probabilities > 0) & (probabilities < 1))):
            raise ValueError("probabilities must lie strictly between 0 and 1")
        if n_draws:
            draws = self.parameter_draws(n_draws, random_state, method=interval_method).to_numpy()
            parameter_sets = [self.formula_params(data, row) for row in draws]
        else:
            parameter_sets = [self.formula_params(data)]
        if self.alive_state_columns and hasattr(self.formulas, "survival_if_alive") and not self._has_covariates():
            quantiles = self._quantiles_by_state(history, data, t, probabilities, parameter_sets, chunk_size)
            table = pd.DataFrame(quantiles, index=data.index, columns=pd.Index(probabilities, name="probability"))
            table.attrs.update(t=t, n_draws=int(n_draws))
            return table
        if self._has_covariates():
            distinct, index = history, None  # each customer has parameters of her own
        else:
            distinct, index = self._distinct_histories(history, data)
        pmf_formula = self.formulas.conditional_probability_of_purchases

        def pmf(counts, rows):
            columns = [column[rows][None, :] for column in distinct]
            total = sum(pmf_formula(take_rows(params, rows), counts, t, *columns) for params in parameter_sets)
            return require_finite(total / len(parameter_sets), self, "purchase_quantiles")

        quantiles = _intervals.quantiles_from_pmf(pmf, len(distinct[0]), probabilities)
        if index is not None:
            quantiles = quantiles[index]
        table = pd.DataFrame(quantiles, index=data.index, columns=pd.Index(probabilities, name="probability"))
        table.attrs.update(t=t, n_draws=int(n_draws))
        return table

    def _quantiles_by_state(self, history, data, t, probabilities, parameter_sets, chunk_size):
        """:meth:`purchase_quantiles` through the formula ``survival_if_alive``.

        Given alive at T, the future depends on the history only through its state
        (``alive_state_columns``), so P(X > k | history) = P(alive) S(state, k), and
        with parameter draws the mixture's is the average over draws. Distinct
        histories are sorted by state and taken ``chunk_size`` draws x histories at a
        time; each chunk gets the table of S for its states and a scan up k (see
        :func:`clvmodels._intervals.mixture_quantiles`). Every number is computed per
        history and per state, so the chunk size changes memory, not the quantiles.
        """
        distinct, index = self._distinct_histories(history, data)
        if index is None:
            found, index = distinct_with_inverse(dict(zip(self.rfm_columns, history)))
            distinct = [found[c] for c in self.rfm_columns]
        columns = dict(zip(self.rfm_columns, distinct))
        states, state_of = distinct_with_inverse({c: columns[c] for c in self.alive_state_columns})
        states = [states[c] for c in self.alive_state_columns]
        stacked = {name: np.array([float(p[name]) for p in parameter_sets])[:, None] for name in self.param_names}
        floor = 1.0 - float(np.max(probabilities)) + _intervals._CDF_SLACK
        n_sets = len(parameter_sets)
        order = np.argsort(state_of, kind="stable")
        per_chunk = max(1, int(chunk_size) // n_sets)
        quantiles = np.empty((len(order), len(probabilities)), dtype=np.int64)
        for part in _intervals.chunks(len(order), per_chunk):
            rows = order[part]
            chunk_states, group = np.unique(state_of[rows], return_inverse=True)
            alive = np.stack([
                self.formulas.probability_alive(params, *(column[rows] for column in distinct))
                for params in parameter_sets
            ])
            alive = np.clip(require_finite(alive, self, "probability_alive"), 0.0, 1.0)
            table, offsets = self.formulas.survival_if_alive(
                stacked, t, floor, *(column[chunk_states] for column in states)
            )
            table = np.clip(require_finite(table, self, "purchase_quantiles"), 0.0, 1.0)
            quantiles[rows] = _intervals.mixture_quantiles(alive, group.reshape(-1), table, offsets, probabilities)
        return quantiles[index]

    def total_purchases_interval(self, data, t, level=0.9, *, n_draws=200, random_state=0,
                                 chunk_size=_intervals.DEFAULT_CHUNK, interval_method="asymptotic"):
        """Interval of the total purchases of all customers in ``data`` over the next ``t``.

        By simulation: for each of ``n_draws`` draws of the parameters
        (:meth:`parameter_draws`) every customer's future purchases are drawn given the
        history (:meth:`sample_future_purchases`) and summed, so the interval carries
        both the parameters' uncertainty and the randomness of who buys. The number a
        finance team plans with. The bounds are order statistics of the simulated
        totals chosen so that they cover a further total with probability at least
        ``level`` (plain quantiles of 100 draws cover about 88% for a 90% interval).
        ``interval_method`` is :meth:`parameter_draws`' ``method`` ("asymptotic" or
        "bootstrap").

        Returns
        -------
        pandas.Series
            ``estimate`` (the sum of :meth:`expected_purchases`), ``lower``, ``upper``.
        """
        t = check_positive_number(t, "t")
        level, n_draws = _intervals.check_level(level), _intervals.check_draws(n_draws)
        estimate = float(self.expected_purchases(data, t).sum())
        rng = np.random.default_rng(random_state)
        draws = self.parameter_draws(n_draws, rng, method=interval_method).to_numpy()
        totals = np.zeros(n_draws)
        for rows in _intervals.chunks(len(data), int(chunk_size)):
            part = data.iloc[rows]
            history = self.history(part)
            for k, draw in enumerate(draws):
                params = self.formula_params(part, draw)
                totals[k] += self.formulas.sample_future_purchases(params, [t], *history, rng).sum()
        low, high = _intervals.predictive_bounds(totals, level)
        return pd.Series({"estimate": estimate, "lower": low, "upper": high}, name="total_purchases")

    def _distinct_histories(self, history, data):
        """The distinct rows of ``history`` and each customer's index into them, when the
        times are on the data's day grid; else the history itself and None."""
        ticks = self._ticks_per_unit(data)
        if ticks is None or len(history[0]) < 1000:
            return history, None
        per_unit = {c: (ticks if c in self.time_columns else 1.0) for c in self.rfm_columns}
        found = distinct_rows(dict(zip(self.rfm_columns, history)), per_unit)
        if found is None:
            return history, None
        return [found[0][c] for c in self.rfm_columns], found[1]

    def discounted_expected_purchases(self, data, times, discounts):
        """sum_k discounts[k] (E[X(times[k])] - E[X(times[k-1])]) per customer, with
        E[X(0)] = 0: the churn-adjusted, discounted purchases behind
        :func:`clvmodels.customer_lifetime_value`.

        Parameters
        ----------
        data : pandas.DataFrame
            The model's columns.
        times : array-like
            Increasing horizons in the model's time unit.
        discounts : array-like
            Discount factor applied to the purchases between ``times[k-1]`` and ``times[k]``.
        """
        history = self._history(data)
        times, discounts = check_times(times, "times"), np.asarray(discounts, dtype=float)
        ticks = self._ticks_per_unit(data)
        fast = getattr(self.formulas, "discounted_expected_purchases", None)
        params = self.formula_params(data)
        if fast is not None:
            total = fast(params, times, discounts, *history, ticks_per_unit=ticks)
        else:
            total = np.zeros(len(data))
            previous = np.zeros(len(data))
            for time, discount in zip(times, discounts):
                cumulative = self.formulas.expected_purchases(params, time, *history, ticks_per_unit=ticks)
                total += discount * (cumulative - previous)
                previous = cumulative
        return self._finite_series(total, data, "discounted_expected_purchases")

    def log_likelihood(self, data):
        """Per-customer log-likelihood of ``data`` at the fitted parameters."""
        history = self._history(data)
        values = self.formulas.log_likelihood(self.formula_params(data), *history)
        return self._finite_series(values, data, "log_likelihood")

    # ----- a customer just acquired -------------------------------------------------------
    def expected_purchases_new_customer(self, t):
        """Expected repeat purchases of a customer just acquired, by time ``t`` (model time unit).

        With covariates: of a customer whose covariates are their means in the fitted
        data (for given customers, use :meth:`expected_purchases` on rows with
        frequency, recency and T zero and their covariates).
        """
        self._check_fitted()
        values = self.formulas.expected_purchases_new_customer(self._typical_params(), check_times(t))
        return self._scalar_or_array(values, "expected_purchases_new_customer")

    def probability_of_purchases(self, n, t):
        """P(X(t) = n): probability that a customer just acquired makes ``n`` repeat
        purchases by time ``t`` (model time unit); ``n`` and ``t`` broadcast. With
        covariates: at their means in the fitted data."""
        self._check_fitted()
        values = self.formulas.probability_of_purchases(self._typical_params(), _checked_n(n), check_times(t))
        return self._scalar_or_array(np.clip(values, 0.0, 1.0), "probability_of_purchases")

    # ----- simulation and what-if --------------------------------------------------------
    def sample(self, T, random_state=None, *, covariates=None):
        """Simulate customer histories of observation lengths ``T`` from the fitted model.

        With covariates, ``covariates`` is a DataFrame holding each customer's
        covariate columns (one row per entry of ``T``); without it every customer has
        the covariates' means in the fitted data.

        Returns
        -------
        pandas.DataFrame
            The model's columns, one row per entry of ``T``, tagged with the model's
            time unit.
        """
        self._check_fitted()
        T = check_times(T, "T")
        params = self._typical_params() if covariates is None else self.formula_params(covariates)
        table = self.formulas.sample(params, T, random_state)
        if self.time_unit_:
            table.attrs["time_unit"] = self.time_unit_
        return table

    def sample_future_purchases(self, data, period_ends, random_state=None):
        """Draw each customer's purchases in consecutive future periods, given the history.

        Parameters
        ----------
        data : pandas.DataFrame
            The model's columns.
        period_ends : array-like
            Increasing ends of the periods after the end of observation, in the
            model's time unit.

        Returns
        -------
        ndarray of shape (customers, periods)
        """
        history = self._history(data)
        ends = check_times(period_ends, "period_ends")
        return self.formulas.sample_future_purchases(self.formula_params(data), ends, *history, random_state)

    def mixing_distributions(self):
        """The model's latent traits across customers: a dict of name -> :class:`Mixing`,
        with keys "purchase" (the purchase process) and "dropout" where the model has them."""
        self._check_fitted()
        return self.formulas.mixing_distributions(self._typical_params())

    def with_dropout_scaled(self, factor):
        """A copy of this fitted model whose mean dropout rate is ``factor`` times as large.

        The purchase process and the spread of dropout across customers are kept (see
        the model's ``scale_dropout`` formula for exactly what is held fixed). Used for
        what-if questions such as "what is 10% less churn worth?".
        """
        self._check_fitted()
        factor = check_positive_number(factor, "factor")
        record = self.to_dict()
        scaled = self.formulas.scale_dropout(self.params_, factor)  # the shared parameters; coefficients kept
        record["params"] = {**record["params"], **{k: float(v) for k, v in scaled.items()}}
        record["covariance_log_params"] = None
        return type(self).from_dict(record)

    def describe_params(self):
        """Parameter table for readers: estimate, standard error, 95% interval and what
        each parameter means (with its time unit where it has one)."""
        table = self.summary()
        unit = self.time_unit_
        table["meaning"] = [
            self.param_descriptions.get(name, "") + (f" (per {unit})" if unit and name in self.time_params else "")
            for name in table.index
        ]
        effects = self.covariate_effects()
        for name, meaning in effects["meaning"].items():
            table.loc[name, "meaning"] = meaning
        return table


class SpendModel(BaseModel):
    """Base class of the spend (monetary value) models.

    Formulas a spend model provides: ``expected_spend(params, *columns)`` (expected
    spend per future purchase given each history), ``population_mean_spend(params)``,
    ``sample(params, x, random_state)`` (mean spend over ``x`` purchases) and
    ``log_likelihood(params, *columns)``.
    """

    key = None
    title = None
    reference = None
    param_descriptions = {}
    example_params = {}

    def expected_spend(self, data, *, interval=None, n_draws=200, random_state=0, interval_method="asymptotic"):
        """Expected spend per future purchase of each customer.

        ``interval`` (e.g. 0.9) adds an interval from the parameters' sampling
        uncertainty (``n_draws`` draws of the parameters, by ``interval_method``
        "asymptotic" or "bootstrap", see :meth:`parameter_draws`).

        Returns
        -------
        pandas.Series or pandas.DataFrame
            On ``data.index`` (a DataFrame with ``estimate``, ``lower``, ``upper`` with
            ``interval``).
        """
        if interval is not None:
            return _intervals.parameter_interval(
                self, lambda model, rows: model.expected_spend(rows), data, interval, n_draws, random_state,
                method=interval_method,
            )
        arrays = self._rfm(data, self.rfm_columns)
        values = self.formulas.expected_spend(self.params_, *(arrays[c] for c in self.rfm_columns))
        return self._series(require_finite(values, self, "expected_spend"), data, "expected_spend")

    def history(self, data):
        """The model's columns of ``data``, checked, as float arrays in ``rfm_columns`` order."""
        arrays = self._rfm(data, self.rfm_columns)
        return [arrays[c] for c in self.rfm_columns]

    def sample_future_spend(self, data, counts, random_state=None):
        """Draw the total spend of ``counts`` future purchases (customers x periods),
        given each customer's spend history."""
        return self.formulas.sample_future_spend(self.params_, counts, *self.history(data), random_state)

    def population_mean_spend(self):
        """Mean spend per purchase across all customers."""
        self._check_fitted()
        return float(require_finite(self.formulas.population_mean_spend(self.params_), self, "population_mean_spend"))

    def log_likelihood(self, data):
        """Per-customer log-likelihood at the fitted parameters (customers the model
        does not use, e.g. without repeat purchases, get -inf)."""
        arrays = self._rfm(data, self.rfm_columns)
        values = self.formulas.log_likelihood(self.params_, *(arrays[c] for c in self.rfm_columns))
        return self._series(values, data, "log_likelihood")

    def sample(self, x, random_state=None):
        """Simulate each customer's mean spend over ``x`` purchases from the fitted model."""
        self._check_fitted()
        return self.formulas.sample(self.params_, np.asarray(x, dtype=float), random_state)

    def describe_params(self):
        """Parameter table with what each parameter means."""
        table = self.summary()
        table["meaning"] = [self.param_descriptions.get(name, "") for name in table.index]
        return table


def registered_models(family=None):
    """The model classes clvmodels knows, by their short ``key``.

    Parameters
    ----------
    family : {"transaction", "spend", "contractual"}, optional
        Only the purchase models, the spend models or the contractual (renewal)
        models.

    Returns
    -------
    dict of str -> class
    """
    bases = {"transaction": TransactionModel, "spend": SpendModel, "contractual": ContractualModel, None: BaseModel}
    base = bases[family]
    return {cls.key: cls for cls in _MODEL_CLASSES.values() if issubclass(cls, base) and cls.key}


# The columns each kind of model fits (see model_kind).
_KIND_COLUMNS = {
    "continuous": frozenset({"frequency", "recency", "T"}),
    "discrete": frozenset({"frequency", "recency", "n_periods"}),
    "contractual": frozenset({"tenure", "churned"}),
}


def model_kind(model):
    """What data a model (class or instance) fits, read from its ``rfm_columns``:
    "continuous" (frequency, recency, T in a time unit: BG/NBD, ...), "discrete"
    (frequency, recency, n_periods in calendar periods: BG/BB), "contractual"
    (tenure, churned: sBG, BdW), or None for anything else (e.g. spend models)."""
    columns = set(getattr(model, "rfm_columns", ()) or ())
    if not columns:
        return None
    for kind, expected in _KIND_COLUMNS.items():
        if columns == expected or (kind == "continuous" and columns <= expected and "T" in columns):
            return kind
    return None


def model_class(key, family="transaction"):
    """The registered model class called ``key`` (e.g. "pnbd"), or a ValueError listing them."""
    models = registered_models(family)
    if key not in models:
        raise ValueError(f"unknown {family} model {key!r}; choose one of {', '.join(sorted(models))}")
    return models[key]


# Discounted sums over future periods stop once the discount factor is below this.
_DISCOUNT_TAIL = 1e-15
# Terms per block of those sums between stopping checks.
_DERL_BLOCK = 1 << 16
# Below this discount rate per period the residual-lifetime series is refused: it
# would need more than ~350,000 terms.
_MIN_DISCOUNT_RATE = 1e-4
# Terms per block of the residual-lifetime series summed for all customers at once.
_CUSTOMER_BLOCK = 64


class ContractualModel(CovariateMixin, BaseModel):
    """Base class of the contractual (subscription renewal) models: sBG, BdW.

    A customer acquired at time 0 renews at the end of each period or leaves for
    good. The data are one row per customer (or per distinct row, with weights):
    ``tenure``, whole periods, and ``churned``, 0/1: a churned customer left in
    period ``tenure`` (she made ``tenure - 1`` renewals); an active one has made
    ``tenure`` renewals so far. :func:`clvmodels.tenure_summary` and
    :func:`clvmodels.tenure_from_survivors` make such tables. The time unit is the
    renewal period.

    Formulas a contractual model provides (``formulas``, its module):

    ``log_likelihood(params, tenure, churned)``
        Per-row log-likelihood.
    ``log_survival(params, t)``
        ln S(t), S(t) = P(still a customer after t renewal opportunities), for a
        customer just acquired; ``t`` >= 0 broadcasts.
    ``sample(params, T, random_state)``
        (tenure, churned) of customers observed for ``T`` periods each.
    ``mixing_distributions(params)``
        The latent traits' distributions across customers (for plots).
    ``residual_lifetime(params, discount_rate, tenure)``
        Optional: DERL of active customers, elementwise (else summed here).

    Models that declare ``covariate_links`` accept ``dropout_covariates`` (see
    :class:`clvmodels._covariates.CovariateMixin`): the formulas then take one value
    of the linked parameters per customer, and every method taking ``data`` needs
    the covariate columns in it. The methods about a customer just acquired
    (:meth:`survival`, :meth:`retention`, :meth:`discounted_expected_lifetime`)
    describe one whose covariates are their means in the fitted data, or, given
    ``covariates`` (a DataFrame of the covariate columns), each of those customers.
    """

    key = None
    title = None
    reference = None
    param_descriptions = {}
    example_params = {}
    rfm_columns = ("tenure", "churned")

    # ----- helpers ----------------------------------------------------------------------
    def _contract_data(self, data):
        arrays = self._rfm(data, self.rfm_columns)
        return arrays["tenure"], arrays["churned"]

    def _log_survival(self, t, params=None):
        """ln S(t) of the typical customer (covariates at their fitted means), or for
        ``params`` (a mapping that may hold one value per customer)."""
        params = self._typical_params() if params is None else params
        return np.asarray(self.formulas.log_survival(params, t), dtype=float)

    def _per_customer(self, covariates, t, values_of, what):
        """``values_of(params, t)`` for each customer of ``covariates`` (rows) and each
        time in ``t`` (columns): a Series for one time, else a DataFrame."""
        params = self.formula_params(covariates)
        times = np.atleast_1d(t)
        columns = {k: (v[:, None] if np.ndim(v) else v) for k, v in params.items()}
        values = np.broadcast_to(values_of(columns, times[None, :]), (len(covariates), len(times)))
        values = np.clip(require_finite(values, self, what), 0.0, None)
        if np.ndim(t) == 0:
            return pd.Series(values[:, 0], index=covariates.index, name=what)
        return pd.DataFrame(values, index=covariates.index, columns=pd.Index(times, name="t"))

    def _scalar_or_array(self, values, what):
        values = require_finite(values, self, what)
        return float(values) if values.ndim == 0 else values

    # ----- a customer just acquired -------------------------------------------------------
    def survival(self, t, covariates=None):
        """S(t): probability that a customer just acquired is still a customer after
        ``t`` renewal opportunities (periods), t >= 0.

        With ``covariates`` (a DataFrame of the model's covariate columns), for each of
        those customers: a Series (one ``t``) or a DataFrame (customers x ``t``).
        """
        self._check_fitted()
        t = check_times(t)
        if covariates is not None:
            return self._per_customer(
                covariates, t, lambda params, times: np.exp(self._log_survival(times, params)), "survival")
        values = np.exp(self._log_survival(t))
        return self._scalar_or_array(np.clip(values, 0.0, 1.0), "survival")

    def retention(self, t, covariates=None):
        """r(t) = S(t) / S(t - 1): the share of the customers active after ``t - 1``
        renewals who renew the t-th time (the retention rate of period t), t >= 1.
        ``covariates``: per customer, as in :meth:`survival`."""
        self._check_fitted()
        t = check_times(t)
        if np.any(t < 1):
            raise ValueError("t must be >= 1 (retention of period t is S(t) / S(t - 1))")
        if covariates is not None:
            return self._per_customer(
                covariates, t,
                lambda params, times: np.exp(self._log_survival(times, params) - self._log_survival(times - 1, params)),
                "retention")
        values = np.exp(self._log_survival(t) - self._log_survival(t - 1))
        return self._scalar_or_array(np.clip(values, 0.0, 1.0), "retention")

    def discounted_expected_lifetime(self, discount_rate, covariates=None):
        """DEL: expected discounted number of periods paid for by a customer just
        acquired, the first (at acquisition) undiscounted, period k divided by
        (1 + discount_rate)^k (Fader & Hardie 2010). With ``covariates`` (a DataFrame
        of the covariate columns), a Series: the DEL of each of those customers."""
        self._check_fitted()
        z = 1.0 / (1.0 + check_positive_number(discount_rate, "discount_rate"))
        if covariates is not None:
            params = self.formula_params(covariates)
            residual = self._residual_per_customer(params, discount_rate, np.zeros(len(covariates)))
            values = require_finite(1.0 + z * residual, self, "discounted_expected_lifetime")
            return pd.Series(values, index=covariates.index, name="del")
        residual = self._residual_lifetime(discount_rate, np.zeros(1))[0]
        return float(require_finite(1.0 + z * residual, self, "discounted_expected_lifetime"))

    # ----- conditional on each customer's record ------------------------------------------
    def probability_alive(self, data, t=1):
        """Probability that each customer is still a customer ``t`` renewals from now:
        S(tenure + t) / S(tenure) for active customers, 0 for churned ones.

        Returns
        -------
        pandas.Series
            On ``data.index``, values in [0, 1].
        """
        tenure, churned = self._contract_data(data)
        t = check_positive_number(t, "t", allow_zero=True)
        params = self.formula_params(data)
        log_ratio = self._log_survival(tenure + t, params) - self._log_survival(tenure, params)
        values = np.where(churned == 1, 0.0, np.exp(log_ratio))
        return self._series(np.clip(require_finite(values, self, "probability_alive"), 0.0, 1.0), data, "probability_alive")

    def expected_residual_lifetime(self, data, discount_rate):
        """DERL: discounted expected residual lifetime of each customer, in periods
        (Fader & Hardie 2010, "Customer-base valuation in a contractual setting: the
        perils of ignoring heterogeneity", Marketing Science 29(1), eq. 6).

        For an active customer with ``tenure`` t (t renewals made), the expected
        number of further renewals, each discounted: sum_{k>=0} S(t + 1 + k) / S(t)
        / (1 + discount_rate)^k. As in the paper, the value is stated at the
        customer's next renewal date (the end of the current period), so the next
        renewal counts in full; multiply by 1 / (1 + discount_rate) for its value a
        period earlier. Churned customers have 0.

        Parameters
        ----------
        data : pandas.DataFrame
            ``tenure`` and ``churned``.
        discount_rate : float
            Per period, >= 1e-4 (without discounting the expected lifetime of the
            sBG is infinite when alpha <= 1).

        Returns
        -------
        pandas.Series
            On ``data.index``, in periods (multiply by the margin per period for
            the residual lifetime value: :func:`clvmodels.contractual_lifetime_value`).
        """
        tenure, churned = self._contract_data(data)
        check_positive_number(discount_rate, "discount_rate")
        if self._has_covariates():
            values = self._residual_per_customer(self.formula_params(data), discount_rate, tenure)
        else:
            distinct, index = np.unique(tenure, return_inverse=True)
            values = self._residual_lifetime(discount_rate, distinct)[index.reshape(-1)]
        values = np.where(churned == 1, 0.0, values)
        return self._series(require_finite(values, self, "expected_residual_lifetime"), data, "derl")

    def _residual_lifetime(self, discount_rate, tenure):
        """DERL of active customers of the given whole tenures.

        DERL(t) = sum_{k>=0} S(t + 1 + k) / S(t) z^k, z = 1 / (1 + d), is summed as a
        series only at the longest tenure; below it, DERL(t) = r(t + 1) (1 + z DERL(t + 1))
        with r(t + 1) = S(t + 1) / S(t), a recursion that shrinks errors as it goes down.
        """
        z = 1.0 / (1.0 + _checked_residual_rate(discount_rate))
        tenure = np.asarray(tenure, dtype=float)
        low, top = float(tenure.min()), float(tenure.max())
        grid = np.arange(low, top + 1.0)
        retention = np.exp(self._log_survival(grid[1:]) - self._log_survival(grid[:-1]))
        values = np.empty(len(grid))
        values[-1] = self._residual_series(z, top)
        for i in range(len(grid) - 2, -1, -1):  # a loop over tenures, not customers
            values[i] = retention[i] * (1.0 + z * values[i + 1])
        return values[np.rint(tenure - low).astype(np.int64)]

    def _residual_per_customer(self, params, discount_rate, tenure):
        """DERL of active customers with one parameter set each (covariates): the model's
        ``residual_lifetime`` formula if it has one, else the series
        sum_{k>=0} S(t + 1 + k) / S(t) z^k summed for all customers at once, in blocks
        of terms, each customer until her rest is below 1e-13 of her sum."""
        z = 1.0 / (1.0 + _checked_residual_rate(discount_rate))
        tenure = np.asarray(tenure, dtype=float)
        formula = getattr(self.formulas, "residual_lifetime", None)
        if formula is not None:
            return np.asarray(formula(params, discount_rate, tenure), dtype=float)
        log_z = np.log(z)
        n_terms = int(np.ceil(np.log(_DISCOUNT_TAIL) / log_z)) + 1
        total = np.zeros(len(tenure))
        active = np.arange(len(tenure))
        start = 0
        while start < n_terms and active.size:
            k = np.arange(start, min(start + _CUSTOMER_BLOCK, n_terms), dtype=float)
            rows = take_rows(params, active)
            columns = {name: (v[:, None] if np.ndim(v) else v) for name, v in rows.items()}
            base = tenure[active, None]
            log_s = self._log_survival(base, columns)
            total[active] += np.exp(self._log_survival(base + 1 + k, columns) - log_s + k * log_z).sum(axis=1)
            start += len(k)
            rest = np.exp(self._log_survival(base + 1 + start, columns) - log_s + start * log_z)[:, 0] / (1 - z)
            active = active[rest > 1e-13 * total[active]]
        return total

    def _residual_series(self, z, tenure):
        """sum_{k>=0} S(t + 1 + k) / S(t) z^k at one tenure, in blocks of terms, until
        the rest (at most S(t + 1 + K) / S(t) z^K / (1 - z), as S falls) is below
        1e-13 of the sum, or z^K < 1e-15."""
        log_z = np.log(z)
        n_terms = int(np.ceil(np.log(_DISCOUNT_TAIL) / log_z)) + 1
        log_s = float(self._log_survival(tenure))
        total, start = 0.0, 0
        while start < n_terms:
            k = np.arange(start, min(start + _DERL_BLOCK, n_terms), dtype=float)
            total += float(np.exp(self._log_survival(tenure + 1 + k) - log_s + k * log_z).sum())
            start += len(k)
            rest = np.exp(float(self._log_survival(tenure + 1 + start)) - log_s + start * log_z) / (1 - z)
            if rest <= 1e-13 * total:
                break
        return total

    def log_likelihood(self, data):
        """Per-customer log-likelihood of ``data`` at the fitted parameters."""
        tenure, churned = self._contract_data(data)
        values = self.formulas.log_likelihood(self.formula_params(data), tenure, churned)
        return self._series(require_finite(values, self, "log_likelihood"), data, "log_likelihood")

    # ----- simulation -------------------------------------------------------------------
    def sample(self, T, random_state=None, *, covariates=None):
        """Simulate (tenure, churned) of customers observed for ``T`` periods each
        (whole numbers) from the fitted model. With covariates, ``covariates`` is a
        DataFrame of each customer's covariate columns (one row per entry of ``T``);
        without it every customer has the covariates' means in the fitted data."""
        self._check_fitted()
        T = check_times(T, "T")
        if np.any(T != np.round(T)):
            raise ValueError("T must hold whole numbers of periods")
        params = self._typical_params() if covariates is None else self.formula_params(covariates)
        table = self.formulas.sample(params, T, random_state)
        if self.time_unit_:
            table.attrs["time_unit"] = self.time_unit_
        return table

    def mixing_distributions(self):
        """The latent traits across customers: a dict of name -> :class:`Mixing`
        (key "dropout": the churn probability per period); with covariates, of a
        customer whose covariates are their fitted means."""
        self._check_fitted()
        return self.formulas.mixing_distributions(self._typical_params())

    def describe_params(self):
        """Parameter table with what each parameter means (and each covariate
        coefficient, in words)."""
        table = self.summary()
        table["meaning"] = [self.param_descriptions.get(name, "") for name in table.index]
        for name, meaning in self.covariate_effects()["meaning"].items():
            table.loc[name, "meaning"] = meaning
        return table


def _checked_residual_rate(discount_rate):
    d = float(discount_rate)
    if d < _MIN_DISCOUNT_RATE:
        raise ValueError(
            f"discount_rate must be >= {_MIN_DISCOUNT_RATE:g} per period for the residual lifetime, "
            f"got {discount_rate!r} (the series needs ~35 / discount_rate terms)"
        )
    return d
