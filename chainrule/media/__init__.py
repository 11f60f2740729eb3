"""Writers for what models produce: PNG image grids (audio and text writers join here)."""

from chainrule.media.images import image_grid, save_grid, save_png, to_images

__all__ = ["image_grid", "save_grid", "save_png", "to_images"]
