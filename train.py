"""`python train.py ...`: the `predrnn-train` command (predrnn_keras/cli/train.py)."""

import sys

from predrnn_keras.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
