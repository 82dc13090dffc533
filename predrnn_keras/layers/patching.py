"""Space-to-depth patching of frame sequences and its exact inverse.

docs/method.md, "Patching".
"""

from keras import ops


def _check_patch_size(patch_size):
    if (
        isinstance(patch_size, bool)
        or not isinstance(patch_size, int)
        or patch_size < 1
    ):
        raise ValueError(
            "Expected `patch_size` to be a positive integer. "
            f"Received: patch_size={patch_size!r}"
        )


def check_patchable(height, width, patch_size):
    """Raises a `ValueError` unless height and width are multiples of p."""
    _check_patch_size(patch_size)
    for name, size in (("height", height), ("width", width)):
        if size is None:
            raise ValueError(
                f"Patching needs a known frame {name}. Received: {name}=None"
            )
        if size % patch_size:
            raise ValueError(
                f"Expected the frame {name} to be a multiple of "
                f"patch_size={patch_size}. Received: {name}={size}"
            )


def patch_frames(frames, patch_size):
    """Rearranges `(B, T, H, W, C)` frames into `(B, T, H/p, W/p, p*p*C)`.

    Reshapes to `(B, T, H/p, p, W/p, p, C)`, transposes to
    `(B, T, H/p, W/p, p, p, C)` and merges the last three axes.

    Args:
        frames: a rank-5 tensor, channels last.
        patch_size: int `p`; height and width must be multiples of it.

    Returns:
        The patched tensor.
    """
    if frames.ndim != 5:
        raise ValueError(
            "Expected frames of rank 5 (batch, time, height, width, "
            f"channels). Received: frames.shape={frames.shape}"
        )
    _, _, height, width, channels = frames.shape
    check_patchable(height, width, patch_size)
    if patch_size == 1:
        return frames
    p = patch_size
    batch, steps = ops.shape(frames)[0], ops.shape(frames)[1]
    x = ops.reshape(frames, (-1, height // p, p, width // p, p, channels))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(
        x, (batch, steps, height // p, width // p, p * p * channels)
    )


def unpatch_frames(patches, patch_size):
    """Exact inverse of `patch_frames`: `(B, T, h, w, p*p*C) -> (B, T, H, W, C)`."""
    if patches.ndim != 5:
        raise ValueError(
            "Expected patches of rank 5 (batch, time, height, width, "
            f"channels). Received: patches.shape={patches.shape}"
        )
    _check_patch_size(patch_size)
    if patch_size == 1:
        return patches
    p = patch_size
    _, _, rows, cols, depth = patches.shape
    if depth % (p * p):
        raise ValueError(
            f"Expected a channel count divisible by patch_size**2={p * p}. "
            f"Received: channels={depth}"
        )
    channels = depth // (p * p)
    batch, steps = ops.shape(patches)[0], ops.shape(patches)[1]
    x = ops.reshape(patches, (-1, rows, cols, p, p, channels))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (batch, steps, rows * p, cols * p, channels))
