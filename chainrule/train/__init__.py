"""Training: the one loop for every model (`Trainer`), its schedule, checkpoints, metrics and evaluation.

Only `models/base.py`'s contract is used here; no concrete model is imported.
"""

from chainrule.train.config import TrainConfig
from chainrule.train.evaluate import evaluate
from chainrule.train.experiment import RUN_FILE, run_info, train_model
from chainrule.train.trainer import Trainer

__all__ = ["TrainConfig", "Trainer", "evaluate", "train_model", "run_info", "RUN_FILE"]
