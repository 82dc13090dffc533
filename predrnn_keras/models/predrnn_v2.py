"""PredRNN-V2: PredRNN with memory decoupling and reverse scheduled sampling."""

import keras

from predrnn_keras.models.predrnn import PredRNN


@keras.saving.register_keras_serializable(package="predrnn_keras")
class PredRNNV2(PredRNN):
    """PredRNN-V2 (Wang et al., TPAMI 2022, arXiv:2103.09504).

    The same network as `PredRNN`, trained with the memory decoupling loss
    (`decouple_beta`, 0.1 on Moving MNIST, 0.01 on KTH) and reverse scheduled
    sampling. This class only changes the defaults of `PredRNN` to the
    paper's Moving MNIST recipe; every argument of `PredRNN` is accepted.

    Example:

    >>> model = PredRNNV2(num_hidden=[8, 8], filter_size=3, patch_size=2,
    ...                   input_length=3)
    >>> model.compile(optimizer="adam")
    """

    def __init__(self, sampling="reverse", decouple_beta=0.1, **kwargs):
        super().__init__(
            sampling=sampling, decouple_beta=decouple_beta, **kwargs
        )
