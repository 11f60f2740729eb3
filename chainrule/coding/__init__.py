"""Lossless compression with a model's exact conditionals (range coding): `compress(model, x) -> bytes` and
`decompress(model, blob) -> x`, bit-exact. The file format and what must match between the two sides:
`coding.container`."""

from chainrule.coding.codec import compress, decompress
from chainrule.coding.container import fingerprint

__all__ = ["compress", "decompress", "fingerprint"]
