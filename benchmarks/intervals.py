"""Benchmark of the prediction intervals (issue 11): purchase quantiles and simulated
CLV intervals for a base of customers, each call in a fresh process so its peak memory
is its own.

    .venv/bin/python benchmarks/intervals.py              # 1M customers
    .venv/bin/python benchmarks/intervals.py --scale 0.01 # 10k customers (the suite's smoke test)

Prints one Markdown row per step (customers, seconds, peak RSS above the input).
lifetimes has no interval of any kind to compare with, and pymc-marketing's posterior
predictive needs a sampled posterior (minutes to hours on such bases), so the figures
stand alone; the targets are the issue's: purchases < 10 s, CLV (200 draws) < 60 s
with < 2 GB.
"""

import argparse
import json
import multiprocessing
import resource
import sys
import time

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


def fitted_models():
    import clvmodels as clv

    base = make_base(20_000, seed=2)
    return clv.BetaGeoModel().fit(base), clv.GammaGammaModel().fit(base)


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run(step, n, queue):
    import clvmodels as clv

    bg, gg = fitted_models()
    base = make_base(n)
    before = _peak_rss_mb()
    start = time.perf_counter()
    if step == "purchases":
        bg.purchases_interval(base, t=52.0, level=0.9)
    elif step == "purchases_with_parameters":
        bg.purchases_interval(base, t=52.0, level=0.9, n_draws=20)
    elif step == "clv_200_draws":
        clv.customer_lifetime_value(bg, gg, base, horizon=12, period="M", discount_rate=0.01, interval=0.9,
                                    n_draws=200)
    seconds = time.perf_counter() - start
    queue.put({"step": step, "customers": n, "seconds": seconds, "peak_mb_above_input": _peak_rss_mb() - before})


def measure(step, n):
    queue = multiprocessing.get_context("fork").Queue()
    process = multiprocessing.get_context("fork").Process(target=_run, args=(step, n, queue))
    process.start()
    process.join()
    if process.exitcode != 0:
        raise RuntimeError(f"step {step} failed with exit code {process.exitcode}")
    return queue.get()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="customers = 1M x scale")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    n = max(100, int(1_000_000 * args.scale))
    rows = [measure(step, n) for step in ("purchases", "purchases_with_parameters", "clv_200_draws")]
    print("| step | customers | seconds | peak MB above input |\n|---|---|---|---|")
    for row in rows:
        print(f"| {row['step']} | {row['customers']:,} | {row['seconds']:.2f} | {row['peak_mb_above_input']:.0f} |")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"rows": rows, "load": list(__import__("os").getloadavg())}, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
