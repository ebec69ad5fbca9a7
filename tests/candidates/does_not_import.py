"""A candidate whose import fails, as a file copied without its helper module does."""

from resnet_helpers import make_stem  # noqa: F401  (the blog's helper module was not copied)


def ResNet50():
    return None
