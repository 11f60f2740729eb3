"""Error types for user mistakes.

Every error a user can cause (bad argument, bad file, missing dataset) is a `ChainruleError` whose message is one
line naming the argument, the value and what is allowed. The CLI turns these into `error: ...` and exit code 2.
"""


class ChainruleError(Exception):
    """Base class of every error chainrule raises for a user mistake."""


class ConfigError(ChainruleError, ValueError):
    """An invalid configuration value or an unknown configuration key."""


class UnknownNameError(ChainruleError, KeyError):
    """An unknown registry name (model, dataset, preset, command option)."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it one plain line
        return str(self.args[0]) if self.args else ""


class InputError(ChainruleError, ValueError):
    """Data with the wrong shape, dtype or level range for a model."""


class DatasetNotFoundError(ChainruleError, FileNotFoundError):
    """A dataset whose files are missing; the message says how to install them."""


class DataFormatError(ChainruleError, ValueError):
    """A data file that cannot be parsed (corrupt, truncated, wrong format)."""


class CheckpointError(ChainruleError, OSError):
    """A missing, corrupt, truncated or mismatched checkpoint or run directory."""


class TrainingError(ChainruleError, RuntimeError):
    """Training cannot go on (e.g. the loss stayed NaN/inf); the last good checkpoint is kept."""


class CompressedFileError(ChainruleError, ValueError):
    """A compressed file that cannot be decoded: not one of ours, corrupt or truncated, or made with another model,
    device type or precision."""
