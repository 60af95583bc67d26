"""A fit does not depend on the order of the rows (issue 13).

With more than 4,000 distinct rows the fit starts from fits on subsamples; they are
chosen by a hash of the row values, not by position, so a shuffled table gives the
same warm start and the same estimate (to round-off in the sums).
"""

import numpy as np
import pytest

import clvmodels as clv
from clvmodels import _base, bgnbd, gamma_gamma


def simulated_rfm(n, seed):
    rng = np.random.default_rng(seed)
    table = bgnbd.sample({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}, rng.uniform(1, 52, n), rng)
    table["monetary_value"] = gamma_gamma.sample({"p": 6.25, "q": 3.74, "v": 15.44}, table["frequency"].to_numpy(), rng)
    table.attrs["time_unit"] = "W"
    return table


def test_shuffled_rows_give_the_same_fit():
    rfm = simulated_rfm(30_000, seed=1)  # continuous times: 30,000 distinct rows, both warm starts used
    shuffled = rfm.sample(frac=1.0, random_state=2)
    for model in (clv.BetaGeoModel, clv.GammaGammaModel):
        a, b = model().fit(rfm), model().fit(shuffled)
        # Subsamples by position moved BG/NBD's estimate by 1.4e-7 here; now only the
        # order of the sums differs (measured: 8e-14 BG/NBD, 1e-11 Gamma-Gamma).
        np.testing.assert_allclose(b.params_, a.params_, rtol=1e-10)
        assert b.log_likelihood_ == pytest.approx(a.log_likelihood_, rel=1e-13)


def test_subsample_is_chosen_by_row_values():
    rng = np.random.default_rng(3)
    columns = {"x": rng.integers(0, 9, 10_000).astype(float), "t": rng.uniform(0, 1, 10_000)}
    counts = np.ones(10_000)
    rows = _base._rows_of_smallest(_base._row_hashes(columns, counts), 500)
    order = rng.permutation(10_000)
    moved = {k: v[order] for k, v in columns.items()}
    moved_rows = _base._rows_of_smallest(_base._row_hashes(moved, counts), 500)
    for name in columns:
        np.testing.assert_array_equal(moved[name][moved_rows], columns[name][rows])
    assert len(np.unique(rows)) == 500
