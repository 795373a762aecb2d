"""A contact sheet: every mask kind in every wear, on real faces, so realism is judged at a glance.

The stage's own renders are a random draw; the sheet instead renders the full grid (kinds
down, wears across) on the first few faces in turn, so each run shows every combination and
two runs with the same params show the same sheet. A render that fails QA gets a red frame
and its reason, not a hiding place.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from pipeline.masks.donors import Donor
from pipeline.masks.geometry import qa_failure
from pipeline.masks.render import render_mask
from pipeline.masks.transfer import transfer_mask

CAPTION = 28  # px of caption under each cell


def contact_sheet(
    faces: Sequence[tuple[np.ndarray, np.ndarray]],
    kinds: Sequence[str],
    wears: Sequence[str],
    colors: Sequence[str],
    seed: int,
    min_coverage: float,
    cell: int = 160,
    donors: Sequence[Donor] = (),
) -> np.ndarray:
    """An RGB image of len(kinds) x len(wears) labelled renders; `faces` are (rgb, points).
    With `donors`, a last row wears their real masks (synthesize's transfer method) in turn.
    A render framed red fails the same QA (at the same `min_coverage`) as synthesis."""
    kinds = [*kinds, *(["transferred"] if donors else [])]
    sheet = Image.new("RGB", (cell * len(wears), (cell + CAPTION) * len(kinds)), "white")
    draw = ImageDraw.Draw(sheet)
    if not faces:
        draw.text((8, 8), "no selected face with landmarks: nothing to render", fill="black")
        return np.asarray(sheet)
    for row, kind in enumerate(kinds):
        for col, wear in enumerate(wears):
            n = row * len(wears) + col
            face, points = faces[n % len(faces)]
            color = colors[n % len(colors)]
            rng = np.random.default_rng([seed, n])
            if kind == "transferred":
                render = transfer_mask(face, points, donors[col % len(donors)], wear, rng)
                color = ""
            else:
                render = render_mask(face, points, kind, color, wear, rng)
            failure = qa_failure(render.alpha, points, wear, min_coverage)
            tile = Image.fromarray(render.image)
            scale = cell / max(tile.size)
            tile = tile.resize(
                (round(tile.width * scale), round(tile.height * scale)), Image.Resampling.LANCZOS
            )
            x, y = col * cell, row * (cell + CAPTION)
            sheet.paste(tile, (x + (cell - tile.width) // 2, y + (cell - tile.height) // 2))
            draw.text((x + 4, y + cell + 2), f"{kind} {render.texture}", fill="black")
            draw.text((x + 4, y + cell + 14), f"{wear} {color}", fill="black")
            if failure is not None:
                draw.rectangle((x, y, x + cell - 1, y + cell - 1), outline="red", width=3)
                draw.text((x + 6, y + 6), failure[0], fill="red")
    return np.asarray(sheet)
