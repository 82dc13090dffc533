"""Data readers: recipes' `[data]` tables to tf.data pipelines.

`build_dataset(config, split, ...)` streams float32 batches
(batch, time, height, width, channels) in [0, 1] from generated Moving MNIST,
the reference's Moving MNIST files, KTH action (PNG frames or videos), radar
composites (through pysteps' importers), or your own frames, videos and
arrays, under every Keras backend.
"""

from predrnn_keras.data.data_error import DataError
from predrnn_keras.data.dataset_builder import DATA_KEYS
from predrnn_keras.data.dataset_builder import DATA_KINDS
from predrnn_keras.data.dataset_builder import DataInfo
from predrnn_keras.data.dataset_builder import build_dataset
from predrnn_keras.data.dataset_builder import dataset_info
from predrnn_keras.data.dataset_builder import make_reader
from predrnn_keras.data.kth import KTH_ACTIONS
from predrnn_keras.data.kth import kth_sequence_starts
from predrnn_keras.data.mnist_npz import write_mnist_npz

__all__ = [
    "DATA_KEYS",
    "DATA_KINDS",
    "KTH_ACTIONS",
    "DataError",
    "DataInfo",
    "build_dataset",
    "dataset_info",
    "kth_sequence_starts",
    "make_reader",
    "write_mnist_npz",
]
