"""chainrule: autoregressive generative models of discrete data (images, text, audio).

Public surface: `chainrule.models` (registry, `create`), `chainrule.data` (`load`), `chainrule.load(dir)`.
"""

__version__ = "0.1.0"

from chainrule import data, models  # noqa: E402
from chainrule.models import load  # noqa: E402

__all__ = ["__version__", "data", "models", "load"]
