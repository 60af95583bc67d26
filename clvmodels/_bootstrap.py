"""Running bootstrap refits in parallel.

Each refit is a function of its own seed only, so the draws are the same whether they
run here one after another or spread over workers, in whatever order the workers
finish. Threads by default: a refit works on the distinct histories only (a few
thousand rows for a base on a day grid), so it takes tens of milliseconds, most of it
in numpy and scipy calls that release the interpreter lock; worker processes cost
their start-up and gave less on two cores (``benchmarks/bootstrap.py`` measures both).
"""

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np

_job = None


def available_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_jobs(n_jobs, n_tasks):
    """Workers to use: ``n_jobs`` (None or -1: one per core), at most one per task."""
    if n_jobs is None or n_jobs == -1:
        n_jobs = available_cores()
    try:
        value = int(n_jobs)
    except (TypeError, ValueError):
        raise ValueError(f"n_jobs must be a whole number >= 1 (or -1 / None for every core), got {n_jobs!r}") from None
    if value != n_jobs or value < 1:
        raise ValueError(f"n_jobs must be a whole number >= 1 (or -1 / None for every core), got {n_jobs!r}")
    return max(1, min(value, n_tasks))


def _set_job(job):
    global _job
    _job = job


def _run_seed(seed):
    return _job(seed)


def _context():
    # fork shares the fitted rows with the workers without copying them; elsewhere the
    # job is pickled to each worker once.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def run(job, seeds, n_jobs=None, backend="threads"):
    """``[job(seed) for seed in seeds]`` as a 2-D array, over ``n_jobs`` workers.

    Parameters
    ----------
    job : callable
        Maps a seed to a 1-D array (picklable, for processes).
    seeds : array-like of int
    n_jobs : int, optional
        Workers (None or -1: one per core); 1 runs in this process.
    backend : {"threads", "processes"}
    """
    seeds = [int(s) for s in seeds]
    workers = check_jobs(n_jobs, len(seeds))
    if workers == 1:
        return np.array([job(seed) for seed in seeds])
    if backend == "threads":
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return np.array(list(pool.map(job, seeds)))
    if backend != "processes":
        raise ValueError(f"backend must be 'threads' or 'processes', got {backend!r}")
    chunk = max(1, len(seeds) // (4 * workers))
    with ProcessPoolExecutor(max_workers=workers, mp_context=_context(), initializer=_set_job, initargs=(job,)) as pool:
        return np.array(list(pool.map(_run_seed, seeds, chunksize=chunk)))
