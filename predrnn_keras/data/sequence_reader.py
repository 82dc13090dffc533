"""The interface between the readers and the tf.data pipeline."""

import numpy as np


class SequenceReader:
    """A numbered set of sequences that reads any batch of them by index.

    Readers subclass it and implement `read_batch`; `make_dataset` turns a
    reader into a `tf.data.Dataset`. Indices, not data, are shuffled, skipped
    and batched, so a reader only ever decodes what a batch needs.

    Args:
        name: the source, for messages (a path or a description).
        num_sequences: sequences in the split; None for an endless generator
            whose every index is a new sequence.
        total_length: frames per sequence.
        frame_shape: (height, width, channels) of a frame.
        details: what `summary` adds after the source, e.g. "persons 17-25".
    """

    def __init__(
        self,
        name: str,
        num_sequences: "int | None",
        total_length: int,
        frame_shape: tuple[int, int, int],
        details: str = "",
    ):
        self.name = name
        self.num_sequences = num_sequences
        self.total_length = total_length
        self.frame_shape = tuple(int(d) for d in frame_shape)
        self.details = details

    @property
    def summary(self) -> str:
        """One line: how many sequences of what, from where."""
        count = (
            "endless new sequences"
            if self.num_sequences is None
            else f"{self.num_sequences:,} sequence"
            + ("s" if self.num_sequences != 1 else "")
        )
        shape = "x".join(map(str, self.frame_shape))
        details = f", {self.details}" if self.details else ""
        return (
            f"{count} of {self.total_length} frames of {shape} "
            f"from {self.name}{details}"
        )

    def read_batch(self, indices: np.ndarray) -> np.ndarray:
        """Returns sequences `indices` as float32 (n, T, H, W, C) in [0, 1]."""
        raise NotImplementedError
