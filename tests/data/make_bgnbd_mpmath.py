"""Write bgnbd_mpmath.csv: BG/NBD predictions at extreme parameters, computed with
mpmath at 30 significant digits, for tests/test_numerics.py.

Grid: r, alpha, a, b each in {1e-8, 1e-4, 1, 1e4, 1e8} (625 parameter sets) times
histories (x, t_x, T) in {(0, 0, 0) (a new customer), (0, 0, 100000), (1, 0.5, 1),
(10, 50, 100), (10000, 90000, 100000)} times horizons t in {1, 1000}. Run:
    .venv/bin/python tests/data/make_bgnbd_mpmath.py     (about an hour on one core)
The expectation is mpmath's hyp2f1; where that takes over 2 s (huge shapes), the same
expectation as a Beta integral by mpmath's tanh-sinh quadrature (column "method"). A
point where both time out is left out (the count is printed).
"""

import csv
import itertools
import signal
import sys
from pathlib import Path

import mpmath as mp

mp.mp.dps = 30
GRID = (1e-8, 1e-4, 1.0, 1e4, 1e8)
HISTORIES = ((0, 0.0, 0.0), (0, 0.0, 1e5), (1, 0.5, 1.0), (10, 50.0, 100.0), (10000, 9e4, 1e5))
HORIZONS = (1.0, 1000.0)
COUNTS = (0, 1, 5)


class _Timeout(Exception):
    pass


def _alarm(*_):
    raise _Timeout


def expected_while_alive(a, b, r, s):
    """(a+b-1)/(a-1) [1 - (1+s)^-r 2F1(r, b; a+b-1; s/(1+s))] (FHL 2005 eq. 10), by mpmath."""
    if a == 1:
        a = a + mp.mpf("1e-25")  # removable singularity: ~6 digits only (main() uses the quadrature)
    c = a + b - 1
    return c / (a - 1) * (1 - (1 + s) ** (-r) * mp.hyp2f1(r, b, c, s / (1 + s)))


def expected_while_alive_by_quadrature(a, b, r, s):
    """E[(1 - (1 + p s)^-r) / p] for p ~ Beta(a, b), by tanh-sinh quadrature in p.

    For a < 2 the mass near p = 0 is taken out exactly first:
    E_{a,b}[g] = g(0) B(a, b+m)/B(a, b) + a/(a+b) E_{a+1,b}[(g - g(0)(1-p)^m)/p],
    and for b < 1 the mass near p = 1: E_{a,b}[f] = f(1) + b/(a+b) E_{a,b+1}[(f - f(1))/(1-p)].
    """
    def g(p):
        return r * s if p == 0 else -mp.expm1(-r * mp.log1p(p * s)) / p

    base, weight, shape_a, func = 0, 1, a, g
    if a < 2:
        m = max((r + 1) * s / 2, 1)
        base = g(0) * mp.beta(a, b + m) / mp.beta(a, b)
        weight, shape_a = a / (a + b), a + 1

        def func(p):
            return 0 if p == 0 else (g(p) - g(0) * (1 - p) ** m) / p

    if b < 1:
        at_one, inner = func(mp.mpf(1)), func

        def func(p):
            return 0 if p == 1 else (inner(p) - at_one) / (1 - p)

        base, weight = base + weight * at_one, weight * b / (shape_a + b)
        b = b + 1
    log_norm = mp.log(mp.beta(shape_a, b))

    def integrand(p):
        if p <= 0 or p >= 1:
            return 0
        return func(p) * mp.exp((shape_a - 1) * mp.log(p) + (b - 1) * mp.log1p(-p) - log_norm)

    mean = shape_a / (shape_a + b)
    sd = mp.sqrt(shape_a * b / ((shape_a + b) ** 2 * (shape_a + b + 1)))
    points = {mp.mpf(0), mp.mpf(1)}
    for k in (-60, -20, -5, -1, 0, 1, 5, 20, 60):
        points.add(mean + k * sd)
    for k in (0.01, 0.1, 1, 10, 100):
        points.add(k / (s * (r + 1)))
    points = sorted(p for p in points if 0 <= p <= 1)
    return base + weight * mp.quad(integrand, points)


def probability_alive(r, alpha, a, b, x, t_x, T):
    if x == 0:
        return mp.mpf(1)
    odds = a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x)
    return 1 / (1 + odds)


def conditional_pmf(r, alpha, a, b, x, t_x, T, n, t):
    """P(X(T, T+t) = n | x, t_x, T), as in clvmodels.bgnbd (Fader, Hardie & Lee 2006 note)."""
    alive = probability_alive(r, alpha, a, b, x, t_x, T)
    shape = r + x
    q = t / (alpha + T + t)
    exactly = mp.exp(mp.loggamma(shape + n) - mp.loggamma(shape) - mp.loggamma(n + 1)) * (1 - q) ** shape * q ** n
    survive_all = mp.beta(a, b + x + n) / mp.beta(a, b + x) * exactly
    drop = 0
    if n > 0:
        drop = mp.beta(a + 1, b + x + n - 1) / mp.beta(a, b + x) * mp.betainc(n, shape, 0, q, regularized=True)
    return alive * (survive_all + drop) + (1 - alive) * (1 if n == 0 else 0)


def main(path, part=None):
    signal.signal(signal.SIGALRM, _alarm)
    rows, skipped = [], 0
    r_values = GRID if part is None else GRID[part::2]
    for r, alpha, a, b in itertools.product(r_values, GRID, GRID, GRID):
        R, AL, A, B = (mp.mpf(v) for v in (r, alpha, a, b))
        for (x, t_x, T), t in itertools.product(HISTORIES, HORIZONS):
            s = mp.mpf(t) / (AL + T)
            expected, method = None, "hyp2f1"
            methods = (("hyp2f1", 2, expected_while_alive), ("quad", 60, expected_while_alive_by_quadrature))
            if a == 1:  # eq. 10 is 0/0 there: the quadrature keeps every digit
                methods = methods[1:]
            for method, limit, func in methods:
                signal.alarm(limit)
                try:
                    expected = func(A, B + x, R + x, s)
                    break
                except _Timeout:
                    continue
                finally:
                    signal.alarm(0)
            if expected is None:
                skipped += 1
                continue
            alive = probability_alive(R, AL, A, B, x, t_x, T)
            row = {"r": r, "alpha": alpha, "a": a, "b": b, "x": x, "t_x": t_x, "T": T, "t": t,
                   "p_alive": float(alive), "expected": float(alive * expected), "method": method}
            for n in COUNTS:
                row[f"pmf_{n}"] = float(conditional_pmf(R, AL, A, B, x, t_x, T, n, mp.mpf(t)))
            rows.append(row)
        print(r, alpha, a, b, len(rows), skipped, file=sys.stderr, flush=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: v if isinstance(v, str) else repr(v) for k, v in row.items()})
    print(f"{len(rows)} rows, {skipped} left out (mpmath over 20 s)", file=sys.stderr)


if __name__ == "__main__":
    # Optional argument 0 or 1: every other r value, into bgnbd_mpmath.<part>.csv, so two
    # processes can share the work (concatenate the two files after).
    if len(sys.argv) > 1:
        main(Path(__file__).with_name(f"bgnbd_mpmath.{sys.argv[1]}.csv"), int(sys.argv[1]))
    else:
        main(Path(__file__).with_name("bgnbd_mpmath.csv"))
