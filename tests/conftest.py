"""Shared test setup: a non-interactive matplotlib backend and the CDNOW sample."""

import os

import pytest

# Plots are drawn off-screen: set the backend before anything imports pyplot.
os.environ.setdefault("MPLBACKEND", "Agg")
try:
    import matplotlib
except ImportError:  # matplotlib is an optional extra
    pass
else:
    matplotlib.use("Agg")


@pytest.fixture(scope="session")
def cdnow_sample():
    """The 2,357-customer CDNOW sample of FHL 2005 as raw transactions (read once per session; copy before modifying)."""
    from clvmodels.datasets import load_cdnow

    return load_cdnow(sample=True)
