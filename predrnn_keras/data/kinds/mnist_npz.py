"""The data kind "mnist_npz": the reference's Moving MNIST .npz files."""

from predrnn_keras.data import mnist_npz
from predrnn_keras.data.kinds.base import DataKind
from predrnn_keras.data.kinds.base import first_path
from predrnn_keras.data.mapped_array import MappedArray


class MNISTNPZKind(DataKind):
    """`clips`, `dims`, `input_raw_data` (`predrnn_keras.data.mnist_npz`)."""

    name = "mnist_npz"
    keys = mnist_npz.KEYS
    description = mnist_npz.__doc__.strip().splitlines()[0]

    def make_reader(self, config, split, total_length, seed):
        return mnist_npz.mnist_npz_reader(config, split, total_length)

    def frame_shape(self, config):
        shape = MappedArray(first_path(config), "input_raw_data").shape
        return shape[2], shape[3], shape[1]
