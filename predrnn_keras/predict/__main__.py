"""`python -m predrnn_keras.predict`: the same as `predict.py`."""

import sys

from predrnn_keras.cli.predict import main

sys.exit(main())
