"""`predrnn-convert`: `python -m predrnn_keras.convert` with the runtime set.

Converts a checkpoint of the PyTorch reference into a `.keras` model; see
`predrnn_keras.convert` for the arguments.
"""

import sys

from predrnn_keras.cli import start


def main(argv=None):
    """Runs `predrnn_keras.convert.main(argv)` after `configure_runtime()`."""
    start()
    from predrnn_keras import convert

    return convert.main(argv)


if __name__ == "__main__":
    sys.exit(main())
