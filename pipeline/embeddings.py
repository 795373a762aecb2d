"""Face embeddings from our own trained model: what its classifier reads.

FiftyOne's uniqueness and similarity need embeddings; its model zoo would download a network,
so the model this pipeline trained provides them instead, through its family
(pipeline/families.py): the penultimate activations of a CNN or backbone, or the PCA
projection of the SVM.
"""

from __future__ import annotations

import numpy as np
from torch import nn

from pipeline.families import family_of
from pipeline.model_meta import ModelMeta
from pipeline.preprocess import load_tensor_cache


def embed(model: nn.Module, meta: ModelMeta, paths: list[str], batch_size: int = 128) -> np.ndarray:
    """(N, D) float32 embeddings of the faces at `paths`."""
    images = load_tensor_cache(paths, meta.image_size, meta.grayscale)
    return family_of(meta.arch).embed(model, images, meta, batch_size)
