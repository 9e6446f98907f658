"""Image features from a small convolutional network whose weights are fixed by a seed.

Nothing is trained and nothing is downloaded: the weights are drawn from NumPy's legacy
``RandomState(IMAGE_SEED)`` (a generator whose stream NumPy keeps frozen across versions and
platforms), so every machine builds the same network and gets the same features up to float32
rounding.  Random convolutional features of this kind carry the texture and layout of images
(learnware's image specification also works in the space of randomly initialised ConvNets).

How an image becomes a vector (:func:`encode`):

1. shape ``(N, C, H, W)`` or ``(N, H, W)`` (one channel); ``channels_last=True`` takes
   ``(N, H, W, C)``.  One channel is repeated to three, an alpha channel (``C == 4``) is dropped.
2. NaN/Inf pixels become the mean of the image's finite pixels.
3. each image is standardised on its own (zero mean, unit variance over all its pixels), so the
   features do not depend on the value range (0-16 digits, 0-255 photos, 0-1 floats) nor on the
   other images of the batch.
4. bilinear resize (antialiased) to ``IMAGE_SIZE x IMAGE_SIZE``.
5. three blocks ``conv 3x3 -> ReLU -> 2x2 average pool`` of widths :data:`WIDTHS` (weights
   ``N(0, 2/fan_in)``, biases ``N(0, 0.1^2)``), a last linear ``conv 3x3`` and a ``2x2`` adaptive
   average pool: :data:`DIM` values.
6. the vector is scaled to unit length, so that a Gaussian kernel with a fixed ``gamma`` sees
   squared distances in ``[0, 4]`` whatever the images were.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

import numpy as np

#: identifier written into image specifications: specs made by another extractor never mix
ENCODER_ID = "sedna-random-cnn-v1"
IMAGE_SIZE = 32
IMAGE_SEED = 0
#: output channels of the three ReLU blocks
WIDTHS = (32, 64, 64)
#: channels of the last (linear) convolution
OUT_CHANNELS = 64
POOLED = 2
#: width of every vector :func:`encode` returns
DIM = OUT_CHANNELS * POOLED * POOLED
BATCH = 256

_lock = threading.Lock()


def _layer(rng: np.random.RandomState, c_in: int, c_out: int) -> tuple[np.ndarray, np.ndarray]:
    fan_in = c_in * 3 * 3
    w = rng.standard_normal((c_out, c_in, 3, 3)) * np.sqrt(2.0 / fan_in)
    b = rng.standard_normal(c_out) * 0.1
    return w.astype(np.float32), b.astype(np.float32)


def network_weights(seed: int = IMAGE_SEED) -> list[tuple[np.ndarray, np.ndarray]]:
    """The four ``(weight, bias)`` pairs of the network, drawn in a fixed order from ``seed``."""
    rng = np.random.RandomState(seed)
    chans = (3, *WIDTHS, OUT_CHANNELS)
    return [_layer(rng, chans[i], chans[i + 1]) for i in range(len(chans) - 1)]


@lru_cache(maxsize=1)
def _torch_weights() -> list[tuple[Any, Any]]:
    import torch

    return [(torch.from_numpy(w), torch.from_numpy(b)) for w, b in network_weights()]


def to_nchw(images: Any, channels_last: bool = False) -> np.ndarray:
    """Images as a float64 ``(N, 3, H, W)`` array (steps 1-3 above); errors name the shape."""
    if hasattr(images, "detach"):  # torch tensors
        images = images.detach().cpu().numpy()
    x = np.asarray(images)
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise TypeError(f"images must be a numeric array, not dtype {x.dtype}")
    x = x.astype(np.float64)
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and channels_last:
        x = np.moveaxis(x, -1, 1)
    elif x.ndim != 4:
        raise ValueError(
            f"images must have shape (N, C, H, W) or (N, H, W), got {x.shape}; "
            "pass channels_last=True for (N, H, W, C)"
        )
    if x.shape[0] == 0:
        raise ValueError("cannot encode an empty set of images")
    c = x.shape[1]
    if c == 1:
        x = np.repeat(x, 3, axis=1)
    elif c == 4:
        x = x[:, :3]
    elif c != 3:
        raise ValueError(
            f"images have {c} channels (shape {x.shape}); expected 1, 3 or 4 in axis 1 "
            "(pass channels_last=True when the channels are the last axis)"
        )
    x = x.copy()
    flat = x.reshape(len(x), -1)
    bad = ~np.isfinite(flat)
    if bad.any():
        for i in np.nonzero(bad.any(axis=1))[0]:
            ok = flat[i, ~bad[i]]
            flat[i, bad[i]] = ok.mean() if ok.size else 0.0
    mean = flat.mean(axis=1, keepdims=True)
    std = flat.std(axis=1, keepdims=True)
    flat -= mean
    flat /= np.where(std > 1e-12, std, 1.0)
    return flat.reshape(x.shape)


def encode(images: Any, channels_last: bool = False, batch_size: int = BATCH) -> np.ndarray:
    """Unit-length features, one row of :data:`DIM` float32 values per image."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError as err:
        from .text import EncoderUnavailable

        raise EncoderUnavailable(
            "image specifications need torch: pip install 'sedna-py[market-embed]'"
        ) from err

    x = to_nchw(images, channels_last)
    weights = _torch_weights()
    out = np.empty((len(x), DIM), dtype=np.float32)
    with _lock, torch.no_grad():
        for start in range(0, len(x), batch_size):
            h = torch.from_numpy(x[start : start + batch_size].astype(np.float32))
            h = F.interpolate(h, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False, antialias=True)
            for w, b in weights[:-1]:
                h = F.avg_pool2d(F.relu(F.conv2d(h, w, b, padding=1)), 2)
            w, b = weights[-1]
            h = F.adaptive_avg_pool2d(F.conv2d(h, w, b, padding=1), POOLED)
            out[start : start + len(h)] = h.reshape(len(h), -1).numpy()
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    out /= np.where(norms > 0, norms, 1.0)
    return out
