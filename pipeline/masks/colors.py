"""The named mask colours params choose from (sRGB)."""

from typing import Literal

MaskColor = Literal["light_blue", "white", "black", "pink", "grey", "navy", "green", "red", "khaki"]
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
