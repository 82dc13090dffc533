"""The one place where the layers and the model depend on the backend.

Two small interfaces, one implementation of each per backend:

- `fast_paths(setting)`: optional ways to compute the same numbers faster
  (kernels prepared once per sequence, stacked gate convolutions, batched
  kernel gradients, PyTorch's own time loop, JAX's fusion fence, the
  default unrolling). `setting="auto"` gives the running backend's;
  `"off"` gives plain Keras ops on every backend, the reference the tests
  compare "auto" with. `PredRNN(fast_paths=...)` and the recipe key
  `model.fast_paths` choose.
- `current()`: what a backend requires whatever the setting: where a
  training step runs among `tf.distribute` replicas, and whether
  `train_step` must be stateless (JAX).

docs/design.md says why each fast path exists and what it gains.
"""

import functools

import keras

from predrnn_keras.backends.plain import Backend
from predrnn_keras.backends.plain import FastPaths

FAST_PATHS = ("auto", "off")


def check_fast_paths(setting):
    """`setting` if it is one of `FAST_PATHS`, else a `ValueError`."""
    if setting not in FAST_PATHS:
        raise ValueError(
            f"Expected `fast_paths` in {FAST_PATHS}. "
            f"Received: fast_paths={setting!r}"
        )
    return setting


def fast_paths(setting="auto"):
    """The `FastPaths` for `setting` on the running backend."""
    if check_fast_paths(setting) == "off":
        return _plain_fast_paths()
    return _backend_fast_paths(keras.backend.backend())


def current():
    """The running backend's `Backend`."""
    return _backend(keras.backend.backend())


@functools.cache
def _plain_fast_paths():
    return FastPaths()


@functools.cache
def _backend_fast_paths(name):
    module = _module(name)
    return module.FAST_PATHS() if module else FastPaths()


@functools.cache
def _backend(name):
    module = _module(name)
    return module.BACKEND() if module else Backend()


def _module(name):
    # Imported on demand: each module imports its framework.
    if name == "tensorflow":
        from predrnn_keras.backends import tensorflow as module
    elif name == "jax":
        from predrnn_keras.backends import jax as module
    elif name == "torch":
        from predrnn_keras.backends import torch as module
    else:
        return None
    return module


__all__ = [
    "FAST_PATHS",
    "Backend",
    "FastPaths",
    "check_fast_paths",
    "current",
    "fast_paths",
]
