"""The exception raised for data files that cannot be read as configured."""

import os


class DataError(ValueError):
    """A data file or folder that cannot be read as configured.

    The message is one line: the file (or folder) first, then what was found
    and what was expected, e.g.
    `/data/train.npz: no key 'clips' (keys: x); expected clips, dims,
    input_raw_data`. It subclasses `ValueError`, so code that catches bad
    arguments catches bad data too.

    Args:
        path: the file, folder or data source at fault.
        problem: what was wrong, in one sentence.
    """

    def __init__(self, path: "str | os.PathLike[str]", problem: str):
        self.path = os.fspath(path)
        self.problem = " ".join(str(problem).split())
        super().__init__(f"{self.path}: {self.problem}")
