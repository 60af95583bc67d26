"""Exceptions and warning classes raised by clvmodels.

Warnings derive from :class:`CLVWarning` so users can filter them all at once::

    import warnings, clvmodels
    warnings.simplefilter("ignore", clvmodels.CLVWarning)
"""


class ConvergenceError(RuntimeError):
    """The optimiser could not find the maximum-likelihood estimate."""


class NotFittedError(ValueError, AttributeError):
    """A method that needs fitted parameters was called before ``fit``."""


class CLVWarning(UserWarning):
    """Base class of every warning clvmodels issues."""


class ModelWarning(CLVWarning):
    """The fitted model is valid but some of its predictions may mislead."""


class DataWarning(CLVWarning):
    """The input is valid but unusual enough to deserve a look."""


class BoundaryWarning(ModelWarning):
    """The likelihood keeps rising towards a limit of the model (e.g. no heterogeneity
    in dropout): the fit is that limiting model, and some parameters are at infinity
    or zero (listed in the model's ``at_boundary_``)."""
