"""Image specification: RKME over features of a small CNN with fixed (seeded) weights.

Learnware's ``RKMEImageSpecification`` keeps 32x32 images as its reduced set and compares them
with a convolutional NNGP kernel.  This one is learnware's idea in the table machinery: every
image goes through the fixed random network of :mod:`sedna_market.encoders.image` (resize to
32x32, per-image standardisation, :data:`~sedna_market.encoders.image.DIM` unit-length features)
and the table RKME is computed on the features, so the stacked index searches image specs like
any other.  A spec records its feature extractor (``"encoder": "sedna-random-cnn-v1"``); learnware's
own image specs (images in ``z``, no ``encoder``) are refused with a message saying to regenerate.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..encoders import image as image_encoder
from .embedded import EmbeddedRKMESpec
from .parsing import SpecDataError
from .rkme import generate_rkme_table_spec

IMAGE_SPEC_TYPE = "RKMEImageSpecification"
IMAGE_ENCODER = image_encoder.ENCODER_ID
#: learnware's default: a few thousand images describe a domain
SAMPLE_SIZE = 5000


class RKMEImageSpec(EmbeddedRKMESpec):
    """Reduced kernel mean embedding of image features (``z``: ``(K, 256)``)."""

    type = IMAGE_SPEC_TYPE
    default_encoder = IMAGE_ENCODER
    default_dim = image_encoder.DIM

    @classmethod
    def missing_encoder(cls) -> str:
        raise SpecDataError(
            "this RKMEImageSpecification has no 'encoder': it was made by learnware's generator "
            "(images as reduced points, compared with a CNN-GP kernel), which this market does not "
            "implement; regenerate it with sedna_market.spec.image.generate_image_spec"
        )


def generate_image_spec(
    images: Any,
    gamma: float = 0.1,
    reduced_set_size: int = 50,
    step_size: float = 0.1,
    steps: int = 3,
    nonnegative_beta: bool = True,
    reduce: bool = True,
    channels_last: bool = False,
    sample_size: int = SAMPLE_SIZE,
    random_state: int = 0,
) -> RKMEImageSpec:
    """Image specification of ``images`` (``(N, C, H, W)``, ``(N, H, W)``, or ``(N, H, W, C)``
    with ``channels_last``), computed locally.

    Any size and value range: images are resized to 32x32 and standardised one by one (see
    :mod:`sedna_market.encoders.image`).  More than ``sample_size`` images are subsampled
    (``RandomState(random_state)``, learnware's 5,000 by default).  The RKME of the features
    uses the table generator's parameters (50 reduced points by default, learnware's image ``K``).
    Same images, same spec.
    """
    n = len(images)
    if n == 0:
        raise ValueError("cannot build an image specification from no images")
    if n > sample_size:
        keep = np.sort(np.random.RandomState(random_state).choice(n, sample_size, replace=False))
        images = np.asarray(images)[keep]
    feats = image_encoder.encode(images, channels_last=channels_last)
    base = generate_rkme_table_spec(
        feats, gamma, reduced_set_size, step_size, steps, nonnegative_beta, reduce, random_state
    )
    spec = RKMEImageSpec(base.z, base.beta, base.gamma, base.num_points, encoder=IMAGE_ENCODER)
    spec.num_points = n
    return spec
