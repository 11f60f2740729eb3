"""chainrule: autoregressive generative models of discrete data (images, text, audio).

Public surface: `chainrule.models` (registry, `create`), `chainrule.data` (`load`), `chainrule.load(dir)`,
`chainrule.coding` (`compress`, `decompress`), `chainrule.score(model, x, method=...)` (anomaly and
out-of-distribution scores, `chainrule.scoring`).
"""

from chainrule import coding, data, models, scoring
from chainrule.models import load
from chainrule.scoring import score
from chainrule.version import __version__

__all__ = ["__version__", "coding", "data", "models", "load", "score", "scoring"]
