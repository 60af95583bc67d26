"""Benchmark of the prediction intervals (issue 11): purchase quantiles and simulated
CLV intervals for a base of customers, each step in a fresh process so its peak memory
and CPU time are its own.

    .venv/bin/python benchmarks/intervals.py              # 1M customers, the three targets
    .venv/bin/python benchmarks/intervals.py --scale 0.01 # 10k customers (the suite's smoke test)
    .venv/bin/python benchmarks/intervals.py --scale 0.1 --steps purchases_mbgnbd purchases_pnbd

Prints a Markdown table (customers, wall seconds, CPU seconds over all threads, peak
RSS of the step's process and its part above the input) and writes it as JSON to
benchmarks/results/intervals.json (or ``--json``). ``--label`` tags the record, e.g.
to compare two checkouts in one run:

    PYTHONPATH=/path/to/other/checkout .venv/bin/python benchmarks/intervals.py --label before

lifetimes has no interval of any kind to compare with, and pymc-marketing's posterior
predictive needs a sampled posterior (minutes to hours on such bases), so the figures
stand alone; the targets are the issue's: purchases < 10 s (closed form and with 20
parameter draws), CLV (200 draws) < 60 s with < 2 GB.
"""

import argparse
import json
import multiprocessing
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

# CDNOW-like parameters (weeks), as the other benchmarks use.
BG = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
GG = {"p": 6.25, "q": 3.74, "v": 15.44}


def make_base(n, seed=1):
    """Day-resolution RFM table in weeks drawn from BG/NBD, with Gamma-Gamma spend."""
    from clvmodels import bgnbd, gamma_gamma

    rng = np.random.default_rng(seed)
    T = rng.integers(1, 547, n) / 7.0
    table = bgnbd.sample(BG, T, rng)
    table["recency"] = np.minimum(np.round(table["recency"] * 7) / 7, table["T"])
    table["monetary_value"] = gamma_gamma.sample(GG, table["frequency"].to_numpy(), rng)
    table.attrs["time_unit"] = "W"
    return table


def fitted_models(purchase_key="bgnbd"):
    import clvmodels as clv

    base = make_base(20_000, seed=2)
    purchase = clv.registered_models("transaction")[purchase_key]().fit(base)
    return purchase, clv.GammaGammaModel().fit(base)


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


STEPS = {
    # step: (purchase model, what is computed)
    "purchases": ("bgnbd", "purchases"),
    "purchases_with_parameters": ("bgnbd", "purchases_20_draws"),
    "clv_200_draws": ("bgnbd", "clv"),
    "purchases_mbgnbd": ("mbgnbd", "purchases"),
    "purchases_mbgnbd_with_parameters": ("mbgnbd", "purchases_20_draws"),
    "purchases_pnbd": ("pnbd", "purchases"),
    "purchases_pnbd_with_parameters": ("pnbd", "purchases_20_draws"),
}
DEFAULT_STEPS = ["purchases", "purchases_with_parameters", "clv_200_draws"]


def _cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _run(step, n, queue):
    import clvmodels as clv

    key, what = STEPS[step]
    model, gg = fitted_models(key)
    base = make_base(n)
    before = _peak_rss_mb()
    start, cpu = time.perf_counter(), _cpu_seconds()
    if what == "purchases":
        model.purchases_interval(base, t=52.0, level=0.9)
    elif what == "purchases_20_draws":
        model.purchases_interval(base, t=52.0, level=0.9, n_draws=20)
    elif what == "clv":
        clv.customer_lifetime_value(model, gg, base, horizon=12, period="M", discount_rate=0.01, interval=0.9,
                                    n_draws=200)
    queue.put({
        "step": step, "customers": n, "seconds": time.perf_counter() - start, "cpu_seconds": _cpu_seconds() - cpu,
        "peak_mb": _peak_rss_mb(), "peak_mb_above_input": _peak_rss_mb() - before,
    })


def measure(step, n):
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=_run, args=(step, n, queue))
    process.start()
    process.join()
    if process.exitcode != 0:
        raise RuntimeError(f"step {step} failed with exit code {process.exitcode}")
    return queue.get()


def format_table(rows):
    lines = ["| step | customers | seconds | CPU seconds | peak MB | peak MB above input |", "|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(
            f"| {row['step']} | {row['customers']:,} | {row['seconds']:.2f} | {row['cpu_seconds']:.2f} "
            f"| {row['peak_mb']:.0f} | {row['peak_mb_above_input']:.0f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    import clvmodels

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="customers = 1M x scale")
    parser.add_argument("--steps", nargs="+", choices=sorted(STEPS), default=DEFAULT_STEPS)
    parser.add_argument("--label", default="", help="a tag stored with the results")
    parser.add_argument("--json", default=str(Path(__file__).parent / "results" / "intervals.json"),
                        help="write the results here")
    args = parser.parse_args(argv)
    n = max(100, int(1_000_000 * args.scale))
    rows = [measure(step, n) for step in args.steps]
    print(format_table(rows))
    record = {
        "label": args.label, "clvmodels": str(Path(clvmodels.__file__).parent), "rows": rows,
        "load": list(os.getloadavg()), "cores": os.cpu_count(),
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
