"""The named mask colours params choose from (sRGB), and `random`: a colour drawn anew for
every mask, uniformly from the sRGB cube (domain randomisation: a model that sees masks in
any colour has to learn the mask's shape, not the palette's hues)."""

from typing import Literal

import numpy as np

MaskColor = Literal["light_blue", "white", "black", "pink", "grey", "navy", "green", "red", "khaki", "random"]
COLORS: dict[str, tuple[int, int, int]] = {
    "light_blue": (140, 190, 225),
    "white": (235, 235, 232),
    "black": (40, 40, 44),
    "pink": (232, 170, 190),
    "grey": (150, 150, 155),
    "navy": (40, 55, 95),
    "green": (120, 160, 130),
    "red": (175, 45, 50),
    "khaki": (185, 170, 130),
}


def mask_rgb(color: str, rng: np.random.Generator) -> np.ndarray:
    """The base colour of one mask: the named one, or for `random` a draw from the mask's
    own rng, so the same job is the same colour in every run."""
    if color == "random":
        return rng.integers(0, 256, 3).astype(np.float32)
    return np.array(COLORS[color], dtype=np.float32)
