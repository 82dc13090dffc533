"""The data kind "mnist_npy": time-first uint8 arrays like
`mnist_test_seq.npy`."""

from predrnn_keras.data import mnist_npy
from predrnn_keras.data.kinds.base import DataKind
from predrnn_keras.data.kinds.base import first_path
from predrnn_keras.data.mapped_array import MappedArray


class MNISTNPYKind(DataKind):
    """`(T, N, H, W)` uint8 arrays (`predrnn_keras.data.mnist_npy`)."""

    name = "mnist_npy"
    keys = mnist_npy.KEYS
    description = mnist_npy.__doc__.strip().splitlines()[0]

    def make_reader(self, config, split, total_length, seed):
        return mnist_npy.mnist_npy_reader(config, split, total_length)

    def frame_shape(self, config):
        shape = MappedArray(first_path(config)).shape
        return shape[-2], shape[-1], 1
