"""`python evaluate.py ...`: the `predrnn-evaluate` command (predrnn_keras/cli/evaluate.py)."""

import sys

from predrnn_keras.cli.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
