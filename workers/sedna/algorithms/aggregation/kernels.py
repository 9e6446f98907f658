"""Array kernels shared by the aggregation strategies.

Weights are lists of arrays of any shapes and dtypes (a model's layers). The kernels walk
each layer in cache-sized blocks: every client's block is read once from memory and combined
in a small buffer that stays in cache, so a round costs about one read of all client bytes
plus one write of the result, with no per-client temporaries the size of the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "BLOCK",
    "as_layers",
    "out_dtype",
    "weighted_sum_layer",
    "stacked_reduce_layer",
    "pairwise_sq_distances",
]

# elements per block: 32 Ki elements = 128-256 KiB per buffer, which fits L2 on current CPUs
BLOCK = 1 << 15


def as_layers(weights: Sequence[Any]) -> list[np.ndarray]:
    """Client weights as C-contiguous arrays (JSON lists from the websocket become arrays)."""
    layers = []
    for w in weights:
        arr = np.asarray(w)  # not ascontiguousarray: it would turn 0-d scalars into shape (1,)
        layers.append(arr if arr.flags.c_contiguous else np.ascontiguousarray(arr))
    return layers


def out_dtype(layers: Sequence[np.ndarray]) -> np.dtype[Any]:
    """The dtype of an aggregated layer: the clients' common float type (float32 stays
    float32); integer/bool layers (e.g. BatchNorm's ``num_batches_tracked``) keep their type
    and are rounded after float64 arithmetic."""
    dtype = np.result_type(*layers)
    if dtype.kind in "biu":
        return np.dtype(layers[0].dtype)
    if dtype.kind not in "fc":
        raise TypeError(f"cannot aggregate layers of dtype {dtype}")
    return dtype


def _acc_dtype(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """Accumulate float32/float64 (and complex) in their own type: widening float32 to
    float64 on the fly makes numpy use its slow casting loops (2-3x the time of the whole
    round), and a weighted sum of a few float32 terms loses nothing that matters to model
    weights. Half precision and integers go through float64."""
    if dtype.kind == "c":
        return np.dtype(np.complex128) if dtype.itemsize < 8 else dtype
    if dtype.kind == "f" and dtype.itemsize >= 4:
        return dtype
    return np.dtype(np.float64)


def _layer_buffers(
    layers: Sequence[np.ndarray], dtype: np.dtype[Any] | None
) -> tuple[np.dtype[Any], tuple[int, ...], list[np.ndarray], np.ndarray]:
    """Result dtype, layer shape, the clients' layers as flat views and the flat output buffer."""
    dtype = np.dtype(dtype) if dtype is not None else out_dtype(layers)
    flat = [np.ascontiguousarray(layer).reshape(-1) for layer in layers]
    return dtype, layers[0].shape, flat, np.empty(flat[0].size, dtype=dtype)


def weighted_sum_layer(
    layers: Sequence[np.ndarray], coeffs: np.ndarray, dtype: np.dtype[Any] | None = None
) -> np.ndarray:
    """``Σ_c coeffs[c] * layers[c]`` for one layer, accumulated block by block in a
    cache-resident buffer (the layer's float type; float64 for integers and half floats).

    The result has ``dtype`` (default :func:`out_dtype`); integer results are rounded.
    """
    dtype, shape, flat, out = _layer_buffers(layers, dtype)
    size = out.size
    if size == 0:
        return out.reshape(shape)
    acc_dtype = _acc_dtype(dtype)
    acc_full = np.empty(min(size, BLOCK), dtype=acc_dtype)
    tmp_full = np.empty_like(acc_full)
    # scalars of the accumulator type select the matching (non-casting) ufunc loop
    scales = [acc_dtype.type(c) for c in coeffs]
    rounding = dtype.kind in "biu"
    for start in range(0, size, BLOCK):
        stop = min(start + BLOCK, size)
        acc = acc_full[: stop - start]
        tmp = tmp_full[: stop - start]
        np.multiply(flat[0][start:stop], scales[0], out=acc)
        for layer, scale in zip(flat[1:], scales[1:], strict=True):
            np.multiply(layer[start:stop], scale, out=tmp)
            np.add(acc, tmp, out=acc)
        if rounding:
            np.rint(acc, out=acc)
        out[start:stop] = acc
    return out.reshape(shape)


def stacked_reduce_layer(layers: Sequence[np.ndarray], reducer: Any, dtype: np.dtype[Any] | None = None) -> np.ndarray:
    """Apply ``reducer(block, out)`` to the (clients, block) stack of one layer, block by
    block; ``block`` is a float64 buffer the reducer may modify (e.g. sort in place) and
    ``out`` a float64 row to fill. Used for coordinate-wise median and trimmed mean."""
    dtype, shape, flat, out = _layer_buffers(layers, dtype)
    size = out.size
    if size == 0:
        return out.reshape(shape)
    block = max(1, BLOCK // max(1, len(flat)))  # keep the stack cache-sized
    stack_full = np.empty((len(flat), min(size, block)), dtype=np.float64)
    row_full = np.empty(min(size, block), dtype=np.float64)
    rounding = dtype.kind in "biu"
    for start in range(0, size, block):
        stop = min(start + block, size)
        stack = stack_full[:, : stop - start]
        row = row_full[: stop - start]
        for i, layer in enumerate(flat):
            stack[i] = layer[start:stop]
        reducer(stack, row)
        if rounding:
            np.rint(row, out=row)
        out[start:stop] = row
    return out.reshape(shape)


def pairwise_sq_distances(clients: Sequence[Sequence[np.ndarray]]) -> np.ndarray:
    """Squared Euclidean distances between the clients' flattened weight vectors.

    Computed from Gram matrices block by block (one BLAS call per block). Each block is
    centred on the clients' mean first: distances do not change, and the cancellation in
    ``|a|² + |b|² - 2a·b`` shrinks to the scale of the differences.
    """
    n = len(clients)
    gram = np.zeros((n, n), dtype=np.float64)
    block = max(1, BLOCK // max(1, n))
    buf_full = np.empty((n, block), dtype=np.float64)
    mean_full = np.empty(block, dtype=np.float64)
    for layer_idx in range(len(clients[0])):
        flat = [np.asarray(c[layer_idx]).reshape(-1) for c in clients]
        size = flat[0].size
        for start in range(0, size, block):
            stop = min(start + block, size)
            buf = buf_full[:, : stop - start]
            mean = mean_full[: stop - start]
            for i, layer in enumerate(flat):
                buf[i] = layer[start:stop]
            np.mean(buf, axis=0, out=mean)
            np.subtract(buf, mean, out=buf)
            gram += buf @ buf.T
    sq = np.diag(gram).copy()
    dist = sq[:, None] + sq[None, :] - 2.0 * gram
    np.maximum(dist, 0.0, out=dist)
    np.fill_diagonal(dist, 0.0)
    return dist
