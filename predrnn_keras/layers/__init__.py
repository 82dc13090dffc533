"""Layers: the ST-LSTM, the stacked recurrent cell, its RNN and patching."""

from predrnn_keras.layers.patching import patch_frames
from predrnn_keras.layers.patching import unpatch_frames
from predrnn_keras.layers.predrnn_cell import PredRNNCell
from predrnn_keras.layers.spatiotemporal_lstm import SpatioTemporalLSTM
from predrnn_keras.layers.spatiotemporal_rnn import SpatioTemporalRNN

__all__ = [
    "PredRNNCell",
    "SpatioTemporalLSTM",
    "SpatioTemporalRNN",
    "patch_frames",
    "unpatch_frames",
]
