"""Heatmaps of where on the face a model looks: occlusion for every model, Grad-CAM for CNNs.

Occlusion: a grey patch slides over the face; wherever it lowers the probability of the
predicted class the face mattered to the decision (Zeiler and Fergus). It needs only
predictions, so it works alike for the small CNNs, torchvision backbones and the SVM.
Grad-CAM (pytorch-grad-cam, on the last convolution) weighs that layer's feature maps by
their gradients: what the seed studies used. The two disagree where a model is fragile, which
is why both are shown. Where the face has landmarks, the share of each heatmap's evidence
inside where a worn mask sits (nose bridge to chin) says in one number whether the model
looks at the right place.
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
from pipeline.preprocess import load_tensor_cache, normalise, predict_logits


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


def gradcam_map(model: nn.Module, meta: ModelMeta, image: torch.Tensor, target: int) -> np.ndarray | None:
    """HxW Grad-CAM of class `target` on the model's last convolution, in [0, 1]; None for a
    model without one (the SVM)."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    convolutions = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not convolutions:
        return None
    batch = normalise(image.unsqueeze(0), meta.normalize)
    with GradCAM(model=model, target_layers=[convolutions[-1]]) as cam:
        return cam(input_tensor=batch, targets=[ClassifierOutputTarget(target)])[0]


def _overlay(face_big: np.ndarray, heat: np.ndarray, side: int) -> np.ndarray:
    scale = max(float(np.abs(heat).max()), 1e-6)
    colour = cv2.applyColorMap((np.clip(heat / scale, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_JET)
    colour = cv2.resize(cv2.cvtColor(colour, cv2.COLOR_BGR2RGB), (side, side), interpolation=cv2.INTER_CUBIC)
    return (0.55 * face_big + 0.45 * colour).astype(np.uint8)


def _panel(face: np.ndarray, heats: list[np.ndarray], caption: str, side: int = 160) -> Image.Image:
    """The face and each heatmap's overlay side by side (occlusion, then Grad-CAM), captioned."""
    face_big = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
    panel = Image.new("RGB", ((1 + len(heats)) * side, side + 16), "white")
    panel.paste(Image.fromarray(face_big), (0, 0))
    for k, heat in enumerate(heats, start=1):
        panel.paste(Image.fromarray(_overlay(face_big, heat, side)), (k * side, 0))
    ImageDraw.Draw(panel).text((4, side + 2), caption, fill="black")
    return panel


def _share(heat: np.ndarray | None, points: np.ndarray | None, row: dict) -> float | None:
    """mask_region_share of a heatmap, None where there is no heatmap, no landmarks or no evidence."""
    if heat is None or points is None or not row.get("width"):
        return None
    value = mask_region_share(heat, points, int(row["width"]), int(row["height"]))
    return None if np.isnan(value) else value


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
        target = classes.index(row["prediction"])
        heat = occlusion_map(model, meta, images[k], target, patch)
        cam = gradcam_map(model, meta, images[k], target)
        points = points_of(pd.Series(row)) if "landmarks" in row else None
        share, cam_share = _share(heat, points, row), _share(cam, points, row)
        verdict = "right" if row["correct"] else "WRONG"
        shown = [share] if cam is None else [share, cam_share]
        area = "mask-area " + " / ".join("n/a" if s is None else f"{s:.2f}" for s in shown)
        caption = f"{verdict} {row['label']}->{row['prediction']} {row['confidence']:.2f} {area}"
        heats = [heat] if cam is None else [heat, cam]
        panels.append(_panel(colour[k].permute(1, 2, 0).numpy(), heats, caption))
        summary.append(
            {
                "id": row["id"],
                "correct": bool(row["correct"]),
                "label": row["label"],
                "prediction": row["prediction"],
                "confidence": float(row["confidence"]),
                "mask_region_share": share,
                "gradcam_mask_region_share": cam_share,
            }
        )
    return panels, summary
