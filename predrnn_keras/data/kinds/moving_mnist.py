"""The data kind "moving_mnist": Moving MNIST generated on the fly."""

from predrnn_keras.data import config_checks
from predrnn_keras.data import moving_mnist
from predrnn_keras.data.kinds.base import DataKind


class MovingMNISTKind(DataKind):
    """Digits bouncing in a canvas (`predrnn_keras.data.moving_mnist`)."""

    name = "moving_mnist"
    keys = moving_mnist.KEYS
    description = moving_mnist.__doc__.strip().splitlines()[0]

    def make_reader(self, config, split, total_length, seed):
        return moving_mnist.moving_mnist_reader(
            config, split, total_length, seed
        )

    def frame_shape(self, config):
        height, width = config_checks.get_image_size(
            config, self.keys["image_size"].default
        )
        return height, width, 1
