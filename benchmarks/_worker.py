"""One measured call, run in its own process (see run.py and README.md).

The benchmark runner starts a multiprocessing "forkserver" that has imported
numpy, pandas, scipy, lifetimes and clvmodels once; every measurement is a fresh
process forked from that small server, which

1. loads its inputs from .npy files and builds the DataFrame the call takes,
2. warms both libraries up on a tiny slice of the input (first-call costs such as
   lazy imports are not what we measure),
3. touches and frees a buffer sized to the input (the same for both libraries; see
   README, "prefault"), returns freed heap to the OS, records its resident memory (``VmRSS``) and
   resets the kernel's peak-RSS mark (``echo 5 > /proc/self/clear_refs``),
4. times the call with ``time.perf_counter`` (wall) and ``os.times`` (user and
   kernel CPU of the process) and reads the new peak (``VmHWM``):
   peak memory of the step = ``VmHWM - VmRSS`` before the call,
5. saves the answer for the parent to compare and sends back the figures.

A call is repeated until its runs add up to 3 seconds (at most ``max_runs``, 3 by
default); the fastest time and the largest peak are reported.
"""

import ctypes
import gc
import json
import os
import pickle
import re
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")

import clvmodels as clv  # noqa: E402
import lifetimes  # noqa: E402
from lifetimes.utils import calibration_and_holdout_data, summary_data_from_transaction_data  # noqa: E402

WEEKS_PER_MONTH = 4.345  # lifetimes' factor for freq="W" in customer_lifetime_value
HORIZON_MONTHS = 12
DISCOUNT_RATE = 0.01
PREDICTION_WEEKS = 52.0


# ----------------------------------------------------------------------------- memory
def _status_kb(field):
    with open("/proc/self/status") as handle:
        match = re.search(rf"^{field}:\s+(\d+) kB", handle.read(), re.MULTILINE)
    return int(match.group(1)) if match else None


def _release_heap():
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _prefault(megabytes):
    """Touch and free ``megabytes`` of memory, so that the measured call finds memory the
    hypervisor has already backed (see README: on a VM, fresh pages can cost ~10 us each)."""
    if megabytes > 0:
        buffer = np.ones(int(megabytes * 2**20) // 8)
        del buffer


def _reset_peak():
    """Reset the process's peak resident set size (Linux >= 4.0); False if impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


# ----------------------------------------------------------------------------- inputs
def save_arrays(directory, arrays, meta):
    """Write ``arrays`` (name -> ndarray) and a JSON ``meta`` dict to ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, values in arrays.items():
        np.save(directory / f"{name}.npy", np.asarray(values), allow_pickle=False)
    (directory / "meta.json").write_text(json.dumps({**meta, "columns": list(arrays)}))


def load_frame(directory):
    directory = Path(directory)
    meta = json.loads((directory / "meta.json").read_text())
    frame = pd.DataFrame({name: np.load(directory / f"{name}.npy") for name in meta["columns"]})
    frame.attrs.update(meta.get("attrs", {}))
    return frame, meta


# ----------------------------------------------------------------------------- models at given parameters
def _ours_models(meta):
    bg = clv.BetaGeoModel.from_dict({"params": meta["bg_params"], "time_unit": "W"})
    gg = clv.GammaGammaModel.from_dict({"params": meta["gg_params"], "time_unit": "W"})
    return bg, gg


def _ours_covariate_models(meta):
    """BG/NBD with the covariates of generate.rfm_with_covariates, at the parameters it was drawn from."""
    bg = clv.BetaGeoModel.from_dict({
        "params": {**meta["bg_params"], **meta["covariate_effects"]}, "time_unit": "W",
        "settings": {"purchase_covariates": ["x1", "x2"], "dropout_covariates": ["x1", "x2"]},
    })
    return bg, _ours_models(meta)[1]


def _lifetimes_models(meta):
    bg = lifetimes.BetaGeoFitter()
    bg.params_ = pd.Series(meta["bg_params"], dtype=float)[["r", "alpha", "a", "b"]]
    bg.predict = bg.conditional_expected_number_of_purchases_up_to_time  # lifetimes sets it only in fit
    gg = lifetimes.GammaGammaFitter()
    gg.params_ = pd.Series(meta["gg_params"], dtype=float)[["p", "q", "v"]]
    return bg, gg


# ----------------------------------------------------------------------------- the steps
# Each step: impl -> function(frame, meta, context) returning the answer; context is built
# once per process outside the timed region (fitted-parameter models for predictions).
def _summary_ours(tx, meta, _):
    return clv.rfm_summary(tx, "customer_id", "date", "amount", time_unit="D",
                           observation_end=meta["observation_end"])


def _summary_lifetimes(tx, meta, _):
    return summary_data_from_transaction_data(tx, "customer_id", "date", monetary_value_col="amount",
                                              observation_period_end=meta["observation_end"], freq="D")


def _split_ours(tx, meta, _):
    return clv.calibration_holdout_split(tx, "customer_id", "date", "amount", time_unit="D",
                                         calibration_end=meta["calibration_end"],
                                         observation_end=meta["observation_end"])


def _split_lifetimes(tx, meta, _):
    return calibration_and_holdout_data(tx, "customer_id", "date", calibration_period_end=meta["calibration_end"],
                                        observation_period_end=meta["observation_end"], freq="D",
                                        monetary_value_col="amount")


def _fit_record(params, standard_errors, optimizer=None):
    return {"params": {k: float(v) for k, v in params.items()},
            "standard_errors": {k: float(v) for k, v in standard_errors.items()},
            "optimizer": optimizer}


def _fit_ours(model_class, **settings):
    """The step fitting clvmodels' ``model_class`` (standard errors included)."""
    def fit(rfm, meta, _):
        model = model_class(**settings).fit(rfm)
        return _fit_record(model.params_, model.standard_errors_, model.optimizer_)
    return fit


def _fit_lifetimes(fitter_class, columns=("frequency", "recency", "T"), standard_errors=True):
    """The step fitting lifetimes' ``fitter_class`` to ``columns`` (it computes the SEs in fit;
    ParetoNBDFitter computes no Hessian, hence no standard errors: NaN)."""
    def fit(rfm, meta, _):
        fitter = fitter_class().fit(*(rfm[c] for c in columns))
        errors = fitter.standard_errors_ if standard_errors else pd.Series(np.nan, index=fitter.params_.index)
        return _fit_record(fitter.params_, errors)
    return fit


def _clv_ours(rfm, meta, models):
    bg, gg = models
    return clv.customer_lifetime_value(bg, gg, rfm, horizon=HORIZON_MONTHS, period=WEEKS_PER_MONTH,
                                       discount_rate=DISCOUNT_RATE)


def _clv_lifetimes(rfm, meta, models):
    bg, gg = models
    return gg.customer_lifetime_value(bg, rfm["frequency"], rfm["recency"], rfm["T"], rfm["monetary_value"],
                                      time=HORIZON_MONTHS, discount_rate=DISCOUNT_RATE, freq="W")


def _predictions_ours(rfm, meta, models):
    bg, gg = models
    return pd.DataFrame({
        "probability_alive": bg.probability_alive(rfm),
        "expected_purchases": bg.expected_purchases(rfm, t=PREDICTION_WEEKS),
        "expected_spend": gg.expected_spend(rfm),
        "clv": _clv_ours(rfm, meta, models),
    })


def _predictions_lifetimes(rfm, meta, models):
    bg, gg = models
    x, t_x, T = rfm["frequency"], rfm["recency"], rfm["T"]
    return pd.DataFrame({
        "probability_alive": bg.conditional_probability_alive(x, t_x, T),
        "expected_purchases": bg.conditional_expected_number_of_purchases_up_to_time(PREDICTION_WEEKS, x, t_x, T),
        "expected_spend": gg.conditional_expected_average_profit(x, rfm["monetary_value"]),
        "clv": _clv_lifetimes(rfm, meta, models),
    }, index=rfm.index)


STEPS = {
    "summary": {"clvmodels": _summary_ours, "lifetimes": _summary_lifetimes},
    "calibration": {"clvmodels": _split_ours, "lifetimes": _split_lifetimes},
    "fit_continuous": {"clvmodels": _fit_ours(clv.BetaGeoModel), "lifetimes": _fit_lifetimes(lifetimes.BetaGeoFitter)},
    "fit_day": {"clvmodels": _fit_ours(clv.BetaGeoModel), "lifetimes": _fit_lifetimes(lifetimes.BetaGeoFitter)},
    "fit_day_noattrs": {"clvmodels": _fit_ours(clv.BetaGeoModel), "lifetimes": _fit_lifetimes(lifetimes.BetaGeoFitter)},
    "fit_mbg": {"clvmodels": _fit_ours(clv.ModifiedBetaGeoModel),
                "lifetimes": _fit_lifetimes(lifetimes.ModifiedBetaGeoFitter)},
    "pnbd_fit": {"clvmodels": _fit_ours(clv.ParetoNBDModel),
                 "lifetimes": _fit_lifetimes(lifetimes.ParetoNBDFitter, standard_errors=False)},
    "gamma_gamma": {"clvmodels": _fit_ours(clv.GammaGammaModel),
                    "lifetimes": _fit_lifetimes(lifetimes.GammaGammaFitter, ("frequency", "monetary_value"))},
    "clv": {"clvmodels": _clv_ours, "lifetimes": _clv_lifetimes},
    "clv_continuous": {"clvmodels": _clv_ours, "lifetimes": _clv_lifetimes},
    "predictions": {"clvmodels": _predictions_ours, "lifetimes": _predictions_lifetimes},
    # issue 12: lifetimes has no covariates; "plain" is the same table fitted without them
    "fit_covariates": {"clvmodels": _fit_ours(clv.BetaGeoModel, purchase_covariates=["x1", "x2"],
                                              dropout_covariates=["x1", "x2"]),
                       "plain": _fit_ours(clv.BetaGeoModel)},
    # CLV of the covariate model beside the plain model's CLV on the same table
    "clv_covariates": {"clvmodels": _clv_ours, "plain": _clv_ours},
}
_NEEDS_MODELS = {"clv", "clv_continuous", "predictions", "clv_covariates"}
WARMUP_ROWS = 2000
REPEAT_BELOW_SECONDS = 3.0


def _context(step, impl, meta):
    if step not in _NEEDS_MODELS:
        return None
    if step == "clv_covariates":
        return _ours_covariate_models(meta) if impl == "clvmodels" else _ours_models(meta)
    return _ours_models(meta) if impl == "clvmodels" else _lifetimes_models(meta)


def measure(spec):
    """Load the inputs, warm up, run and measure one call; returns a dict of figures."""
    step, impl = spec["step"], spec["impl"]
    call = STEPS[step][impl]
    frame, meta = load_frame(spec["input_dir"])
    context = _context(step, impl, meta)
    warm = frame.iloc[:WARMUP_ROWS].copy()
    warm.attrs = dict(frame.attrs)
    try:
        call(warm, meta, context)
    except Exception:  # a tiny slice may not be fittable; the warm-up is only a courtesy
        pass
    del warm

    _prefault(spec.get("prefault_mb", 0))
    times, cpu_times, peaks, result = [], [], [], None
    can_reset = True
    for _ in range(spec.get("max_runs", 3)):
        result = None
        _release_heap()
        baseline = _status_kb("VmRSS")
        can_reset = _reset_peak() and can_reset
        start, cpu_start = time.perf_counter(), os.times()
        result = call(frame, meta, context)
        times.append(time.perf_counter() - start)
        cpu_end = os.times()
        cpu_times.append((cpu_end.user - cpu_start.user, cpu_end.system - cpu_start.system))
        peaks.append((_status_kb("VmHWM") - baseline) / 1024)
        if sum(times) >= spec.get("repeat_below", REPEAT_BELOW_SECONDS):
            break
    with open(spec["output"], "wb") as handle:
        pickle.dump(result, handle, protocol=pickle.HIGHEST_PROTOCOL)
    return {
        "seconds": min(times),
        "runs": len(times),
        "all_seconds": times,
        "cpu_user_seconds": cpu_times[times.index(min(times))][0],
        "cpu_system_seconds": cpu_times[times.index(min(times))][1],
        "peak_mb": max(peaks) if can_reset else None,
        "input_mb": baseline / 1024,
        "pid": os.getpid(),
    }


def run_task(spec, connection):
    """Entry point of a measurement process: send back the figures or the error."""
    try:
        connection.send({"ok": True, **measure(spec)})
    except BaseException as error:  # noqa: BLE001 - reported to the parent, which carries on
        connection.send({"ok": False, "error": f"{type(error).__name__}: {error}"[:2000]})
    finally:
        connection.close()
