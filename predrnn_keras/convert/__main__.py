"""`python -m predrnn_keras.convert`: see `predrnn_keras.convert.command`."""

import sys

from predrnn_keras.convert.command import main

sys.exit(main())
