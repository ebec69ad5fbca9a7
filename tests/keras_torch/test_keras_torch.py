"""The Keras-backend checks (tests/keras_backend_checks.py) with Keras on the keras_torch participant's engine."""

from keras_backend_checks import *  # noqa: F401,F403  (pytest collects the imported tests here)
