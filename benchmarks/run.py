"""Benchmark clvmodels against lifetimes on synthetic data (issue 5).

    .venv/bin/python benchmarks/run.py [--quick] [--steps summary fit_day ...] [--scale 0.01]

Every step runs with lifetimes and with clvmodels on the same input, each call in
its own fresh process (see _worker.py for how time and peak memory are measured);
the answers are compared, and a Markdown table plus a JSON record
(benchmarks/results/latest.json for the full run) are written. See README.md.
"""

import argparse
import json
import multiprocessing
import os
import pickle
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import generate  # noqa: E402
from _worker import save_arrays  # noqa: E402

STEP_LABELS = {
    "summary": "rfm_summary with amounts",
    "calibration": "calibration_holdout_split with amounts",
    "fit_continuous": "BetaGeoModel.fit incl. SEs, continuous times",
    "fit_day": "BetaGeoModel.fit incl. SEs, day-resolution times",
    "fit_day_noattrs": "BetaGeoModel.fit incl. SEs, day-resolution times, table without time unit",
    "fit_mbg": "ModifiedBetaGeoModel.fit incl. SEs, day-resolution times",
    "gamma_gamma": "GammaGammaModel.fit",
    "pnbd_fit": "ParetoNBDModel.fit incl. SEs, day-resolution times",
    "clv": "customer_lifetime_value, 12 monthly periods, day-resolution times",
    "clv_continuous": "customer_lifetime_value, 12 monthly periods, continuous times",
    "predictions": "all predictions (P(alive), E[purchases], spend, CLV), day-resolution times",
    "fit_covariates": "BetaGeoModel.fit incl. SEs, 2 covariates in both processes, continuous times",
    "clv_covariates": "customer_lifetime_value, 12 monthly periods, BG/NBD with 2 covariates in both processes, "
                      "continuous times",
}
STEP_ORDER = list(STEP_LABELS)
M = 1_000_000


@dataclass
class Target:
    speedup: float = None  # clvmodels at least this many times faster than lifetimes
    peak_mb: float = None  # clvmodels peak memory above the input at most this
    seconds: float = None  # clvmodels at most this long
    linear_with: tuple = None  # (step, size) of a smaller case: memory must grow at most linearly
    times_plain: float = None  # at most this many times the plain model (impl "plain") on the same input

    def describe(self):
        parts = []
        if self.speedup:
            parts.append(f">= {self.speedup:g}x")
        if self.peak_mb:
            parts.append(f"peak <= {self.peak_mb / 1024:g} GB")
        if self.seconds:
            parts.append(f"<= {self.seconds:g} s")
        if self.linear_with:
            parts.append("memory linear")
        if self.times_plain:
            parts.append(f"<= {self.times_plain:g}x the plain model")
        return ", ".join(parts)


@dataclass
class Case:
    step: str
    n: int  # transactions for summary/calibration, customers otherwise
    customers: int
    lifetimes: bool = True
    target: Target = None
    results: dict = field(default_factory=dict)
    parity: dict = None

    @property
    def size_label(self):
        if self.step in ("summary", "calibration"):
            return f"{_count(self.n)} tx, {_count(self.customers)} customers"
        if self.step == "gamma_gamma":
            return f"{_count(self.customers)} repeat buyers"
        return f"{_count(self.customers)} customers"

    @property
    def input_key(self):
        if self.step in ("summary", "calibration"):
            return ("tx", self.n, self.customers)
        if self.step == "gamma_gamma":
            return ("repeat", self.customers)
        if self.step == "fit_mbg":  # drawn from MBG/NBD itself
            return ("rfm", "day", self.customers, "mbgnbd")
        if self.step in ("fit_covariates", "clv_covariates"):
            return ("covariates", self.customers)
        if self.step == "pnbd_fit":
            return ("pnbd", "day", self.customers)
        if self.step == "fit_day_noattrs":  # the same table read from SQL or a CSV: no attrs["time_unit"]
            return ("rfm", "day", self.customers, "bgnbd", "no time unit")
        day = self.step in ("fit_day", "clv", "predictions")  # as rfm_summary makes them from daily logs
        return ("rfm", "day" if day else "continuous", self.customers)


def _count(n):
    if n >= M:
        return f"{n / M:.3g}M"
    if n >= 1000:
        return f"{n / 1000:.3g}k"
    return str(n)


def plan(scale, steps):
    """The benchmark cases at ``scale`` (1 = the target sizes of issue 5)."""

    def s(n, minimum=300):
        return max(minimum, int(round(n * scale)))

    cases = []
    for n in (0.1 * M, 1 * M, 10 * M):  # scaling; 10M transactions is the target row
        target = Target(speedup=10, peak_mb=1536) if n == 10 * M else None
        cases.append(Case("summary", s(n, 600), s(n / 2), target=target))
    cases.append(Case("calibration", s(10 * M, 600), s(5 * M), target=Target(speedup=20)))
    for step, speedup in (("fit_continuous", 30), ("fit_day", 100)):
        for n in (0.1 * M, 1 * M, 10 * M):
            target = Target(speedup=speedup) if n == 1 * M else None
            cases.append(Case(step, s(n), s(n), lifetimes=n < 10 * M, target=target))
    cases.append(Case("fit_day_noattrs", s(1 * M), s(1 * M), target=Target(speedup=100)))
    for n in (0.1 * M, 1 * M):  # issue 9: MBG/NBD fit on 1M customers >= 30x
        cases.append(Case("fit_mbg", s(n), s(n), target=Target(speedup=30) if n == 1 * M else None))
    cases.append(Case("gamma_gamma", s(1 * M), s(1 * M), target=Target(speedup=20)))
    # issue 9: Pareto/NBD fit incl. SEs on 100k customers drawn from the model, >= 50x.
    cases.append(Case("pnbd_fit", s(0.1 * M), s(0.1 * M), target=Target(speedup=50)))
    cases.append(Case("clv", s(1 * M), s(1 * M), target=Target(speedup=30)))
    # Continuous times defeat evaluating once per distinct (frequency, T): the hard case.
    # (issue 14: interpolated per frequency in ln(alpha + T), one short polynomial per customer).
    cases.append(Case("clv_continuous", s(0.1 * M), s(0.1 * M)))
    cases.append(Case("clv_continuous", s(1 * M), s(1 * M), target=Target(speedup=30)))
    # lifetimes' predictions are compared at 0.1M (at 1M they would cost another ~35 s;
    # the CLV row compares at 1M); 1M is the reference for the memory growth to 10M.
    cases.append(Case("predictions", s(0.1 * M), s(0.1 * M)))
    cases.append(Case("predictions", s(1 * M), s(1 * M), lifetimes=False))
    cases.append(Case("predictions", s(10 * M), s(10 * M), lifetimes=False,
                      target=Target(seconds=5, linear_with=("predictions", s(1 * M)))))
    # issue 12: with covariates (nothing to compress), beside the plain fit of the same table
    cases.append(Case("fit_covariates", s(1 * M), s(1 * M), lifetimes=False, target=Target(times_plain=10)))
    # the same table scored: CLV with per-customer parameters beside the plain model's CLV
    cases.append(Case("clv_covariates", s(1 * M), s(1 * M), lifetimes=False, target=Target(times_plain=3)))
    return [c for c in cases if c.step in steps]


def only_targets(cases):
    """The cases with a target, and the smaller cases their memory is compared with."""
    references = {c.target.linear_with for c in cases if c.target and c.target.linear_with}
    kept = [c for c in cases if c.target or (c.step, c.n) in references]
    # every step keeps one case compared with lifetimes
    compared = {c.step for c in kept if c.lifetimes}
    extra = {c.step: c for c in reversed(cases) if c.lifetimes and c.step not in compared}
    return [c for c in cases if c in kept or extra.get(c.step) is c]


# ----------------------------------------------------------------------------- inputs
def make_input(key, directory, seed):
    meta = {"bg_params": generate.BG_PARAMS, "gg_params": generate.GG_PARAMS}
    if key[0] == "tx":
        _, n_tx, n_customers = key
        # Dates without time of day: lifetimes' calibration_and_holdout_data compares raw
        # timestamps with calibration_end (midnight), so it would put purchases made later
        # on that day in neither period; with daily dates both libraries agree.
        log = generate.transactions(n_tx, n_customers, seed=seed, time_of_day=False)
        meta.update(observation_end=log.attrs["observation_end"], calibration_end=log.attrs["calibration_end"])
        arrays = {c: log[c].to_numpy() for c in log.columns}
        meta["n_rows"] = len(log)
    else:
        if key[0] == "repeat":
            table = generate.repeat_buyers(key[1], seed=seed + 1)
        elif key[0] == "covariates":
            table = generate.rfm_with_covariates(key[1], seed=seed + 3)
            # spend for the CLV step (Gamma-Gamma needs it; the fits ignore it)
            spend = np.random.default_rng(seed + 4).gamma(6.25, 15.44 / 3.74, len(table))
            table["monetary_value"] = np.where(table["frequency"] > 0, spend, 0.0)
            meta["covariate_effects"] = generate.COVARIATE_EFFECTS
        elif key[0] == "pnbd":
            table = generate.pnbd_rfm_table(key[2], seed=seed + 3)
            meta["pnbd_params"] = generate.PNBD_PARAMS
        else:
            model = key[3] if len(key) > 3 else "bgnbd"
            params = generate.MBG_PARAMS if model == "mbgnbd" else generate.BG_PARAMS
            table = generate.rfm_table(key[2], resolution=key[1], seed=seed + 2, model=model, bg_params=params)
        arrays = {c: table[c].to_numpy() for c in table.columns}
        meta["attrs"] = {} if key[-1] == "no time unit" else {"time_unit": "W"}
        meta["n_rows"] = len(table)
    save_arrays(directory, arrays, meta)
    return meta


def load_input(directory):
    from _worker import load_frame

    return load_frame(directory)


# ----------------------------------------------------------------------------- measuring
PREFAULT_BYTES_PER_ROW = 200
PREFAULT_MAX_MB = 2560


def prefault_mb(n_rows):
    """Memory each measurement process touches and frees before the call: about the peak
    the larger library needs (lifetimes: ~160 bytes per transaction), at most 2.5 GB."""
    return min(PREFAULT_MAX_MB, n_rows * PREFAULT_BYTES_PER_ROW / 2**20)


def measure(context, step, impl, input_dir, output, timeout, runs, prefault):
    parent, child = context.Pipe(duplex=False)
    spec = {"step": step, "impl": impl, "input_dir": str(input_dir), "output": str(output), "max_runs": runs,
            "prefault_mb": prefault}
    import _worker

    process = context.Process(target=_worker.run_task, args=(spec, child), daemon=True)
    start = time.perf_counter()
    process.start()
    child.close()
    try:
        if parent.poll(timeout):
            reply = parent.recv()
        else:
            reply = {"ok": False, "error": f"timed out after {timeout:g} s"}
    except EOFError:
        reply = {"ok": False, "error": "the measurement process died (out of memory?)"}
    if process.is_alive() and not reply["ok"]:
        process.kill()
    process.join()
    reply["wall_seconds"] = time.perf_counter() - start
    return reply


# ----------------------------------------------------------------------------- comparing
def _rel_diff(ours, theirs, atol=1e-12):
    ours, theirs = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(ours - theirs) / np.maximum(np.abs(theirs), atol)
    rel = np.where((ours == theirs) | (np.isnan(ours) & np.isnan(theirs)), 0.0, rel)  # equal infinities, NaN
    rel = np.where(np.isnan(rel), np.inf, rel)  # NaN on one side only
    return float(np.max(rel)) if rel.size else 0.0


def _compare_tables(ours, theirs, exact, close, rtol):
    if not np.array_equal(ours.index.to_numpy(), theirs.index.to_numpy()):
        return {"ok": False, "detail": f"different customers ({len(ours)} vs {len(theirs)} rows)"}
    problems, worst = [], 0.0
    for column in exact:
        mismatched = int(np.count_nonzero(ours[column].to_numpy() != theirs[column].to_numpy()))
        if mismatched:
            problems.append(f"{column}: {mismatched} rows differ")
    for column in close:
        diff = _rel_diff(ours[column], theirs[column])
        worst = max(worst, diff)
        if diff > rtol:
            problems.append(f"{column}: rel. diff {diff:.2g}")
    same = [f"{', '.join(exact)} identical"] if exact else []
    same.append(f"{', '.join(close)} max rel. diff {worst:.1g}")
    detail = "; ".join(problems) if problems else "; ".join(same)
    return {"ok": not problems, "detail": detail, "max_rel_diff": worst}


def compare(case, ours, theirs, input_dir):
    if case.step == "summary":
        return _compare_tables(ours, theirs, ["frequency", "recency", "T"], ["monetary_value"], 1e-9)
    if case.step == "calibration":
        theirs = theirs.rename(columns=lambda c: c.removesuffix("_cal"))
        result = _compare_tables(
            ours, theirs, ["frequency", "recency", "T", "frequency_holdout", "duration_holdout"],
            ["monetary_value"], 1e-9)
        # lifetimes averages the holdout records, clvmodels the holdout purchase days (amounts of a
        # day summed, as for monetary_value): compare where no holdout day has two records.
        if result["ok"]:
            tx, meta = load_input(input_dir)
            day = tx["date"].to_numpy().astype("datetime64[D]")
            holdout = (day > np.datetime64(meta["calibration_end"])) & (day <= np.datetime64(meta["observation_end"]))
            records = np.bincount(tx["customer_id"].to_numpy()[holdout], minlength=case.customers + 1)
            records = records[ours.index.to_numpy()]
            same_definition = records == ours["frequency_holdout"].to_numpy()
            diff = _rel_diff(ours["monetary_value_holdout"].to_numpy()[same_definition],
                             theirs["monetary_value_holdout"].to_numpy()[same_definition])
            result["ok"] = diff <= 1e-9
            result["detail"] += (f"; monetary_value_holdout max rel. diff {diff:.1g} on the "
                                 f"{int(same_definition.sum())} customers without two holdout records on a day "
                                 f"(by definition lifetimes averages records, clvmodels purchase days; "
                                 f"{int((~same_definition).sum())} customers)")
        return result
    if case.step in ("fit_continuous", "fit_day", "fit_day_noattrs", "fit_mbg", "gamma_gamma", "pnbd_fit"):
        params = _rel_diff(list(ours["params"].values()), [theirs["params"][k] for k in ours["params"]])
        ses = _rel_diff(list(ours["standard_errors"].values()),
                        [theirs["standard_errors"][k] for k in ours["standard_errors"]])
        ll_gain = _log_likelihood_gain(case, ours["params"], theirs["params"], input_dir)
        # A flat likelihood (Pareto/NBD's s and beta) leaves lifetimes' Nelder-Mead short of
        # the optimum by ~1e-4: a fit also agrees when it is within 1e-3 and its
        # log-likelihood is at least lifetimes'.
        ok = params <= 1e-4 or (params <= 1e-3 and ll_gain >= 0)
        se_text = f"SEs {ses:.1g}"
        for name, fit in (("clvmodels", ours), ("lifetimes", theirs)):
            missing = [k for k, v in fit["standard_errors"].items() if not np.isfinite(v)]
            if missing:
                se_text = f"{name} gives no SE for {', '.join(missing)}"
                ok = ok and name != "clvmodels"
        detail = f"params max rel. diff {params:.1g}, {se_text}; log-lik. clvmodels - lifetimes = {ll_gain:+.2g}"
        return {"ok": ok, "detail": detail, "max_rel_diff": params, "se_rel_diff": ses,
                "log_likelihood_gain": ll_gain, "params_clvmodels": ours["params"],
                "params_lifetimes": theirs["params"]}
    if case.step in ("clv", "clv_continuous"):
        diff = _rel_diff(ours.to_numpy(), theirs["clv"].to_numpy() if isinstance(theirs, pd.DataFrame) else theirs)
        return {"ok": diff <= 1e-6, "detail": f"max rel. diff {diff:.1g}", "max_rel_diff": diff}
    if case.step == "predictions":
        return _compare_tables(ours, theirs, [], list(ours.columns), 1e-6)
    raise ValueError(case.step)


def _log_likelihood_gain(case, ours, theirs, input_dir):
    """Total log-likelihood at clvmodels' estimate minus at lifetimes' (clvmodels' formulas)."""
    from clvmodels import bgnbd, gamma_gamma, mbgnbd, pareto_nbd

    data, _ = load_input(input_dir)
    if case.step == "gamma_gamma":
        columns = (data["frequency"], data["monetary_value"])
        ll = gamma_gamma.log_likelihood
    elif case.step == "pnbd_fit":
        columns = (data["frequency"], data["recency"], data["T"])
        ll = pareto_nbd.log_likelihood
    else:
        columns = (data["frequency"], data["recency"], data["T"])
        ll = mbgnbd.log_likelihood if case.step == "fit_mbg" else bgnbd.log_likelihood
    return float(np.sum(ll(ours, *columns)) - np.sum(ll(theirs, *columns)))


# ----------------------------------------------------------------------------- reporting
def evaluate(case, cases):
    """Whether the case meets its target; a list of reasons."""
    target = case.target
    if target is None:
        return None, ""
    ours, theirs = case.results.get("clvmodels", {}), case.results.get("lifetimes", {})
    if not ours.get("ok"):
        return False, "clvmodels failed"
    verdicts, notes = [], []
    if target.speedup:
        if theirs.get("ok"):
            ratio = theirs["seconds"] / ours["seconds"]
            verdicts.append(ratio >= target.speedup)
        else:
            verdicts.append(False)
            notes.append("lifetimes not measured")
    if target.peak_mb:
        verdicts.append(ours["peak_mb"] is not None and ours["peak_mb"] <= target.peak_mb)
    if target.seconds:
        verdicts.append(ours["seconds"] <= target.seconds)
    if target.linear_with:
        small = next((c for c in cases if (c.step, c.n) == target.linear_with), None)
        small_peak = small.results.get("clvmodels", {}).get("peak_mb") if small else None
        if small_peak and ours.get("peak_mb"):
            growth = ours["peak_mb"] / small_peak
            size_growth = case.n / small.n
            verdicts.append(growth <= 1.25 * size_growth)
            notes.append(f"peak x{growth:.1f} for x{size_growth:g} customers")
        else:
            notes.append("no smaller case to compare memory")
    if target.times_plain:
        plain = case.results.get("plain", {})
        if plain.get("ok"):
            ratio = ours["seconds"] / plain["seconds"]
            verdicts.append(ratio <= target.times_plain)
            what = "fit's" if case.step.startswith("fit") else "model's CLV,"
            notes.append(f"{ratio:.1f}x the plain {what} {plain['seconds']:.3g} s")
        else:
            verdicts.append(False)
            notes.append("plain fit not measured")
    if case.parity is not None and not case.parity.get("ok"):
        notes.append("answers differ")
    return all(verdicts), "; ".join(notes)


def _fmt_seconds(result):
    if not result:
        return "not run"
    if not result.get("ok"):
        return "failed"
    value = result["seconds"]
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def _fmt_mb(result):
    if not result or not result.get("ok") or result.get("peak_mb") is None:
        return "-"
    return f"{result['peak_mb']:,.0f}"


def table(cases):
    header = ("| step | size | lifetimes s | clvmodels s | speed-up | target | met | "
              "lifetimes peak MB | clvmodels peak MB | same answer |")
    lines = [header, "|" + "---|" * 10]
    for case in cases:
        ours, theirs = case.results.get("clvmodels"), case.results.get("lifetimes")
        if case.lifetimes:
            speedup = (f"{theirs['seconds'] / ours['seconds']:.1f}x"
                       if ours and theirs and ours.get("ok") and theirs.get("ok") else "-")
            lifetimes_s = _fmt_seconds(theirs)
        else:
            speedup, lifetimes_s = "-", "skipped"
            estimate = case.results.get("lifetimes_estimate")
            if estimate and ours and ours.get("ok"):
                lifetimes_s = f"skipped (~{estimate:.0f} est.)"
                speedup = f"~{estimate / ours['seconds']:.0f}x est."
        met, note = evaluate(case, cases)
        met_text = "" if met is None else ("yes" if met else "**NO**")
        if note:
            met_text = f"{met_text} ({note})" if met_text else note
        if case.parity is None:
            same = "-" if not case.lifetimes else "not compared"
        else:
            same = ("yes: " if case.parity["ok"] else "**NO**: ") + case.parity["detail"]
        errors = [f"{impl}: {r['error']}" for impl, r in case.results.items()
                  if isinstance(r, dict) and not r.get("ok")]
        if errors:
            same = (same + "; " if same not in ("-", "not compared") else "") + "; ".join(errors)
        target = case.target.describe() if case.target else ""
        lines.append(f"| {STEP_LABELS[case.step]} | {case.size_label} | {lifetimes_s} | {_fmt_seconds(ours)} | "
                     f"{speedup} | {target} | {met_text} | {_fmt_mb(theirs)} | {_fmt_mb(ours)} | {same} |")
    return "\n".join(lines)


def scaling_table(cases):
    """Seconds per million rows of clvmodels across sizes (near-constant = near-linear)."""
    lines = ["| step | size | clvmodels s | user CPU s | kernel CPU s | s per 1M rows | peak MB per 1M rows |",
             "|---|---|---|---|---|---|---|"]
    for case in cases:
        ours = case.results.get("clvmodels")
        if not ours or not ours.get("ok"):
            continue
        per = ours["seconds"] / case.n * M
        peak = f"{ours['peak_mb'] / case.n * M:,.0f}" if ours.get("peak_mb") is not None else "-"
        lines.append(f"| {STEP_LABELS[case.step]} | {case.size_label} | {ours['seconds']:.3g} | "
                     f"{ours['cpu_user_seconds']:.3g} | {ours['cpu_system_seconds']:.3g} | {per:.3g} | {peak} |")
    return "\n".join(lines)


README_START, README_END = "<!-- results:start -->", "<!-- results:end -->"


def results_markdown(record):
    """The README's results section for a JSON record."""
    info = record["machine"]
    changes = " + uncommitted changes in clvmodels/" if info["clvmodels_uncommitted_changes"] else ""
    if info.get("code_changed_during_run"):
        changes += f" (the code changed during the run; {info['code_changed_during_run']})"
    verdicts = [c for c in record["cases"] if c["met"] is not None]
    met = [c for c in verdicts if c["met"]]
    lines = [
        f"Measured {record['created']} at commit {info['git_commit']}{changes}, scale {record['scale']:g}, "
        f"seed {record['seed']}; whole run {record['total_seconds']:.0f} s; "
        f"prefault {'on' if record.get('prefault') else 'off'}.",
        "",
        f"Machine: {info['nproc']} cores ({info['cpu']}), {info['memory_gb']} GB RAM, Linux {info['kernel']}; "
        f"Python {info['python']}, numpy {info['numpy']}, pandas {info['pandas']}, scipy {info['scipy']}, "
        f"lifetimes {info['lifetimes']}. Load average {record['load_average_before'][0]:.1f} at the start "
        f"and {record['load_average_after'][0]:.1f} at the end (other jobs shared the machine).",
        "",
        f"Targets met: {len(met)} of {len(verdicts)}.",
        "",
        record["table_markdown"],
        "",
        "Scaling of clvmodels (time and peak memory per million rows; near-constant = near-linear; "
        "kernel CPU is mostly page faults on freshly allocated memory):",
        "",
        record["scaling_markdown"],
    ]
    return "\n".join(lines)


def update_readme(record, path=HERE / "README.md"):
    text = path.read_text()
    start, end = text.index(README_START) + len(README_START), text.index(README_END)
    path.write_text(text[:start] + "\n" + results_markdown(record) + "\n" + text[end:])


def machine():
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        memory = next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal"))
        memory_gb = round(int(memory) / 1024**2, 1)
    except (OSError, StopIteration):
        memory_gb = None
    from importlib import metadata

    import scipy

    import clvmodels

    try:
        root = HERE.parent
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                                text=True, check=False).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "clvmodels"], cwd=root, capture_output=True,
                               text=True, check=False).stdout.strip()
    except OSError:
        commit, dirty = None, ""
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": memory_gb,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scipy": scipy.__version__,
        "lifetimes": metadata.version("lifetimes"),
        "clvmodels": clvmodels.__version__,
        "git_commit": commit,
        "clvmodels_uncommitted_changes": bool(dirty),
    }


# ----------------------------------------------------------------------------- main
def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="sizes / 20 (about one minute)")
    parser.add_argument("--scale", type=float, help="size factor (1 = issue 5 targets; --quick is 0.05)")
    parser.add_argument("--steps", nargs="+", choices=STEP_ORDER, default=STEP_ORDER, metavar="STEP",
                        help=f"steps to run (default all): {' '.join(STEP_ORDER)}")
    parser.add_argument("--seed", type=int, default=20240501)
    parser.add_argument("--json", type=Path, help="where to write the JSON record "
                        "(default benchmarks/results/latest.json, quick.json with --quick/--scale)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per measured call")
    parser.add_argument("--no-lifetimes", action="store_true", help="measure clvmodels only")
    parser.add_argument("--update-readme", action="store_true",
                        help="replace the results section of benchmarks/README.md with this run's tables")
    parser.add_argument("--no-prefault", action="store_true",
                        help="do not touch memory before each call (see README)")
    parser.add_argument("--targets-only", action="store_true", help="skip the scaling rows without a target")
    parser.add_argument("--runs", type=int, default=3,
                        help="at most this many runs of a call, repeated until they add up to 3 s (default 3)")
    return parser.parse_args(argv)


def log(message):
    print(message, file=sys.stderr, flush=True)


def main(argv=None):
    args = parse_args(argv)
    scale = args.scale if args.scale is not None else (0.05 if args.quick else 1.0)
    full = scale == 1.0
    json_path = args.json or HERE / "results" / ("latest.json" if full else "quick.json")
    cases = plan(scale, set(args.steps))
    if args.targets_only:
        cases = only_targets(cases)
    if args.no_lifetimes:
        for case in cases:
            case.lifetimes = False

    # The forkserver imports the libraries once; every measurement is a process forked from it.
    # (Python 3.11's forkserver does not apply the parent's sys.path, hence PYTHONPATH.)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["_worker"])
    started = time.perf_counter()
    load_before = os.getloadavg()
    info = machine()  # the code state at the start of the run
    workdir = Path(tempfile.mkdtemp(prefix="clvmodels-bench-"))
    inputs = {}
    try:
        for number, case in enumerate(cases, 1):
            key = case.input_key
            if key not in inputs:
                directory = workdir / f"input{len(inputs)}"
                t0 = time.perf_counter()
                meta = make_input(key, directory, args.seed)
                inputs[key] = directory
                log(f"[{time.perf_counter() - started:6.1f}s] generated {key} ({meta['n_rows']:,} rows) "
                    f"in {time.perf_counter() - t0:.1f} s")
            input_dir = inputs[key]
            if case.step in ("summary", "calibration"):
                case.n = json.loads((input_dir / "meta.json").read_text())["n_rows"]
            outputs = {}
            baseline = ["plain"] if case.target and case.target.times_plain else []
            for impl in (["lifetimes"] if case.lifetimes else []) + ["clvmodels"] + baseline:
                output = workdir / f"out_{impl}.pkl"
                n_rows = json.loads((input_dir / "meta.json").read_text())["n_rows"]
                prefault = 0 if args.no_prefault else prefault_mb(n_rows)
                reply = measure(context, case.step, impl, input_dir, output, args.timeout, args.runs, prefault)
                reply["prefault_mb"] = prefault
                case.results[impl] = reply
                if reply["ok"]:
                    outputs[impl] = output
                status = (f"{reply['seconds']:.3f} s, peak {reply['peak_mb'] or 0:,.0f} MB" if reply["ok"]
                          else reply["error"])
                log(f"[{time.perf_counter() - started:6.1f}s] {number}/{len(cases)} {case.step} "
                    f"{case.size_label} {impl}: {status}")
            if "lifetimes" in outputs and "clvmodels" in outputs:
                answers = {}
                for impl, path in outputs.items():
                    with open(path, "rb") as handle:
                        answers[impl] = pickle.load(handle)
                try:
                    case.parity = compare(case, answers["clvmodels"], answers["lifetimes"], input_dir)
                except Exception as error:  # noqa: BLE001 - report, do not lose the run
                    case.parity = {"ok": False, "detail": f"comparison failed: {type(error).__name__}: {error}"}
                del answers
            for path in outputs.values():
                path.unlink(missing_ok=True)
            if not case.lifetimes:
                case.results["lifetimes_estimate"] = _extrapolate(case, cases)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    elapsed = time.perf_counter() - started
    at_end = machine()
    if (at_end["git_commit"], at_end["clvmodels_uncommitted_changes"]) != (
            info["git_commit"], info["clvmodels_uncommitted_changes"]):
        info["code_changed_during_run"] = f"at the end: commit {at_end['git_commit']}" + (
            " + uncommitted changes" if at_end["clvmodels_uncommitted_changes"] else "")
    main_table, scaling = table(cases), scaling_table(cases)
    print(f"\nclvmodels vs lifetimes, scale {scale:g} ({'full' if full else 'reduced'} sizes), seed {args.seed}")
    print(f"machine: {info['nproc']} cores, {info['cpu']}, {info['memory_gb']} GB; "
          f"load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after; total {elapsed:.0f} s\n")
    print(main_table)
    print("\nScaling (clvmodels):\n")
    print(scaling)
    record = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "scale": scale,
        "seed": args.seed,
        "total_seconds": elapsed,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "machine": info,
        "memory_method": "per call: fresh forked process; VmHWM after the call minus VmRSS before it, "
                         "peak reset with /proc/self/clear_refs",
        "prefault": not args.no_prefault,
        "cases": [
            {"step": c.step, "label": STEP_LABELS[c.step], "size": c.size_label, "n": c.n,
             "customers": c.customers, "target": c.target.describe() if c.target else None,
             "met": evaluate(c, cases)[0], "note": evaluate(c, cases)[1], "results": c.results,
             "parity": c.parity}
            for c in cases
        ],
        "table_markdown": main_table,
        "scaling_markdown": scaling,
    }
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(record, indent=2, default=_json_default) + "\n")
    log(f"wrote {json_path}")
    if args.update_readme:
        update_readme(record)
        log("updated the results section of benchmarks/README.md")
    # Exit status 1 if clvmodels failed or disagreed with lifetimes; unmet speed targets are only reported.
    broken = [c for c in cases if not c.results.get("clvmodels", {}).get("ok")
              or (c.parity is not None and not c.parity["ok"])]
    for case in broken:
        log(f"PROBLEM: {case.step} {case.size_label}: see the table")
    return 1 if broken else 0


def _extrapolate(case, cases):
    """lifetimes' time at the largest smaller size of the same step, scaled linearly."""
    measured = [c for c in cases if c.step == case.step and c.n < case.n and c.results.get("lifetimes", {}).get("ok")]
    if not measured:
        return None
    largest = max(measured, key=lambda c: c.n)
    return largest.results["lifetimes"]["seconds"] * case.n / largest.n


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.bool_):
        return bool(value)
    raise TypeError(type(value).__name__)


if __name__ == "__main__":
    sys.exit(main())
