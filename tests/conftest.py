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


# The CDNOW sample as in Fader, Hardie & Lee (2005): weeks at day resolution,
# calibration to 1997-09-30 (39 weeks), holdout to 1998-06-30 (78 weeks in all).
# Session-scoped and shared: tests must not modify them.
CALIBRATION_END, OBSERVATION_END = "1997-09-30", "1998-06-30"


@pytest.fixture(scope="session")
def rfm(cdnow_sample):
    """RFM summary of the calibration period (2,357 customers, weeks)."""
    from clvmodels import rfm_summary

    return rfm_summary(cdnow_sample, amount_col="amount", time_unit="W", observation_end=CALIBRATION_END)


@pytest.fixture(scope="session")
def split(cdnow_sample):
    """Calibration columns plus frequency/monetary_value/duration_holdout."""
    from clvmodels import calibration_holdout_split

    return calibration_holdout_split(
        cdnow_sample, amount_col="amount", time_unit="W",
        calibration_end=CALIBRATION_END, observation_end=OBSERVATION_END,
    )


@pytest.fixture(scope="session")
def bg(rfm):
    """BG/NBD fitted on the calibration period (FHL 2005)."""
    from clvmodels import BetaGeoModel

    return BetaGeoModel().fit(rfm)


@pytest.fixture(scope="session")
def gg(rfm):
    """Gamma-Gamma fitted on the calibration period's repeat buyers."""
    from clvmodels import GammaGammaModel

    return GammaGammaModel().fit(rfm)
