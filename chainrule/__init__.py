"""chainrule: autoregressive generative models of discrete data (images, text, audio).

Public surface: `chainrule.models` (registry, `create`), `chainrule.data` (`load`), `chainrule.load(dir)`,
`chainrule.coding` (`compress`, `decompress`).
"""

from chainrule import coding, data, models
from chainrule.models import load
from chainrule.version import __version__

__all__ = ["__version__", "coding", "data", "models", "load"]
