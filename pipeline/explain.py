"""Occlusion heatmaps: where on the face a model looks, for every kind of model.

A grey patch slides over the face; wherever it lowers the probability of the predicted class
the face mattered to the decision (Zeiler and Fergus's occlusion test; the seed studies used
it and Grad-CAM to check their models look at mouth and nose). It needs only predictions, so
it works alike for the small CNNs, torchvision backbones and the SVM. Where the face has
landmarks, the share of the evidence that falls inside where a worn mask sits (nose bridge to
chin) says in one number whether the model looks at the right place.
"""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageDraw
from torch import nn

from pipeline.landmarks import points_of
from pipeline.masks.geometry import outline
from pipeline.model_meta import ModelMeta
from pipeline.preprocess import load_tensor_cache, predict_logits


def occlusion_map(
    model: nn.Module, meta: ModelMeta, image: torch.Tensor, target: int, patch: float
) -> np.ndarray:
    """HxW: how much the probability of class `target` drops when each pixel is covered,
    averaged over the patches covering it (at half-patch strides)."""
    _, h, w = image.shape
    side = max(2, round(patch * min(h, w)))
    stride = max(1, side // 2)
    spots = [(y, x) for y in range(0, h - side + 1, stride) for x in range(0, w - side + 1, stride)]
    batch = image.unsqueeze(0).repeat(len(spots) + 1, 1, 1, 1)
    for k, (y, x) in enumerate(spots, start=1):
        batch[k, :, y : y + side, x : x + side] = 128
    probs = torch.softmax(predict_logits(model, batch, meta.normalize), dim=1)[:, target].numpy()
    heat, hits = np.zeros((h, w)), np.zeros((h, w))
    for k, (y, x) in enumerate(spots, start=1):
        heat[y : y + side, x : x + side] += probs[0] - probs[k]
        hits[y : y + side, x : x + side] += 1
    return heat / np.maximum(hits, 1)


def mask_region_share(heat: np.ndarray, points: np.ndarray, width: int, height: int) -> float:
    """Share of the positive evidence inside the correctly-worn-mask outline (landmarks in
    the face's own pixels, the heatmap at model size)."""
    h, w = heat.shape
    scaled = outline(points).polygon * (w / width, h / height)
    region = np.zeros((h, w), np.uint8)
    cv2.fillPoly(region, [np.round(scaled).astype(np.int32)], 1)
    positive = np.clip(heat, 0, None)
    total = positive.sum()
    return float((positive * region).sum() / total) if total > 0 else float("nan")


def _panel(face: np.ndarray, heat: np.ndarray, caption: str, side: int = 160) -> Image.Image:
    """The face and its heatmap overlay side by side, with a caption."""
    face_big = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
    scale = max(float(np.abs(heat).max()), 1e-6)
    colour = cv2.applyColorMap((np.clip(heat / scale, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_JET)
    colour = cv2.resize(cv2.cvtColor(colour, cv2.COLOR_BGR2RGB), (side, side), interpolation=cv2.INTER_CUBIC)
    overlay = (0.55 * face_big + 0.45 * colour).astype(np.uint8)
    panel = Image.new("RGB", (2 * side, side + 16), "white")
    panel.paste(Image.fromarray(face_big), (0, 0))
    panel.paste(Image.fromarray(overlay), (side, 0))
    ImageDraw.Draw(panel).text((4, side + 2), caption, fill="black")
    return panel


def explain(
    model: nn.Module,
    meta: ModelMeta,
    preds: pd.DataFrame,
    manifest: pd.DataFrame,
    per_kind: int,
    patch: float,
) -> tuple[list[Image.Image], list[dict]]:
    """Heatmap panels and a summary row each for up to `per_kind` wrong test faces (surest
    first) and as many right ones (spread over the confidence range, by id)."""
    test = preds[(preds["split"] == "test") & preds["label"].isin(meta.classes)]
    wrong = test[~test["correct"]].sort_values(["confidence", "id"], ascending=[False, True]).head(per_kind)
    right = test[test["correct"]].sort_values("id")
    right = (
        right.iloc[np.linspace(0, len(right) - 1, min(per_kind, len(right))).astype(int)]
        if len(right)
        else right
    )
    rows = pd.concat([wrong, right]).merge(manifest, on="id", suffixes=("", "_manifest"))
    if rows.empty:
        return [], []
    size, classes = meta.image_size, meta.classes
    images = load_tensor_cache(list(rows["path"]), size, meta.grayscale)
    colour = load_tensor_cache(list(rows["path"]), size, False)
    panels, summary = [], []
    for k, row in enumerate(rows.to_dict("records")):
        heat = occlusion_map(model, meta, images[k], classes.index(row["prediction"]), patch)
        points = points_of(pd.Series(row)) if "landmarks" in row else None
        share = (
            mask_region_share(heat, points, int(row["width"]), int(row["height"]))
            if points is not None and row.get("width")
            else float("nan")
        )
        known = not np.isnan(share)
        verdict = "right" if row["correct"] else "WRONG"
        area = f"mask-area {share:.2f}" if known else "mask-area n/a (no landmarks)"
        caption = f"{verdict} {row['label']}->{row['prediction']} {row['confidence']:.2f} {area}"
        panels.append(_panel(colour[k].permute(1, 2, 0).numpy(), heat, caption))
        summary.append(
            {
                "id": row["id"],
                "correct": bool(row["correct"]),
                "label": row["label"],
                "prediction": row["prediction"],
                "confidence": float(row["confidence"]),
                "mask_region_share": share if known else None,
            }
        )
    return panels, summary
