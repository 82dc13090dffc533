"""Data readers: recipes' `[data]` tables to tf.data pipelines.

`build_dataset(config, split, ...)` streams float32 batches
(batch, time, height, width, channels) in [0, 1] from generated Moving MNIST,
the reference's Moving MNIST files, KTH action (PNG frames or videos), radar
composites (through pysteps' importers), or your own frames, videos and
arrays, under every Keras backend. Each kind is a plug-in registered by
name in `predrnn_keras.data.kinds`.
"""

from predrnn_keras.data.data_error import DataError
from predrnn_keras.data import kinds
from predrnn_keras.data.dataset_builder import DataInfo
from predrnn_keras.data.dataset_builder import build_dataset
from predrnn_keras.data.dataset_builder import data_keys
from predrnn_keras.data.dataset_builder import data_kinds
from predrnn_keras.data.dataset_builder import dataset_info
from predrnn_keras.data.dataset_builder import make_reader
from predrnn_keras.data.kth import KTH_ACTIONS
from predrnn_keras.data.kth import kth_sequence_starts
from predrnn_keras.data.mnist_npz import write_mnist_npz

__all__ = [
    "KTH_ACTIONS",
    "DataError",
    "DataInfo",
    "build_dataset",
    "data_keys",
    "data_kinds",
    "dataset_info",
    "kinds",
    "kth_sequence_starts",
    "make_reader",
    "write_mnist_npz",
]
