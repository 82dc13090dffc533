"""`python predict.py ...`: the `predrnn-predict` command (predrnn_keras/cli/predict.py)."""

import sys

from predrnn_keras.cli.predict import main

if __name__ == "__main__":
    sys.exit(main())
