"""clvmodels: probabilistic customer lifetime value.

Fits "buy till you die" models (BG/NBD for purchases, Gamma-Gamma for spend) to
transaction histories and predicts, per customer, future purchases, spend, the
probability of still being a customer, and a churn-adjusted discounted CLV.
"""

__version__ = "0.1.0"

from . import datasets
from ._base import load_model, model_from_dict
from ._families import Mixing, SpendModel, TransactionModel, registered_models
from .data import calibration_holdout_split, compress, rfm_summary
from .bgnbd import BetaGeoModel
from .clv import customer_lifetime_value
from .gamma_gamma import GammaGammaModel
from . import evaluation
from . import plotting
from . import report
from .segments import customer_segments
from .exceptions import BoundaryWarning, CLVWarning, ConvergenceError, DataWarning, ModelWarning, NotFittedError

__all__ = [
    "__version__",
    "datasets",
    "rfm_summary",
    "calibration_holdout_split",
    "compress",
    "BetaGeoModel",
    "GammaGammaModel",
    "TransactionModel",
    "SpendModel",
    "Mixing",
    "registered_models",
    "customer_lifetime_value",
    "evaluation",
    "plotting",
    "report",
    "customer_segments",
    "load_model",
    "model_from_dict",
    "CLVWarning",
    "BoundaryWarning",
    "ConvergenceError",
    "DataWarning",
    "ModelWarning",
    "NotFittedError",
]
