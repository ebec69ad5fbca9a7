"""The `Backend` record: everything crosscheck knows about one participant, as data (framework-free).

A participant is one worker process: a framework (or Keras on one of its backends) with its implementation
package. Its record says how to install it and start it, which of the spec's key namings and which activation
layout it speaks, which checkpoint files it reads, and the facts the commands print about it. The code that
imports the framework lives beside the record, in the participant's folder (`crosscheck/backends/<name>/`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping


@dataclass(frozen=True)
class Convention:
    """How one framework defines BN momentum, the running variance, weight decay and SGD momentum."""

    bn_momentum: str  # what the framework's BN momentum argument means
    bn_default: float  # the BN momentum its reference ResNet builds with, in the framework's own meaning
    variance: str  # "unbiased" or "biased": the batch variance the running variance is updated from
    weight_decay: str  # what the optimizer's weight_decay argument does
    velocity: str  # the SGD momentum update
    float32_attributes: str  # hyperparameters the framework rounds to float32 in a float64 run


@dataclass(frozen=True)
class Backend:
    """One participant of a comparison: its worker, its model code, and how the commands speak about it."""

    name: str  # the worker's argument and the CLI's choice, e.g. "torch"
    impl_package: str  # the model code (resnet.py, preprocess.py), e.g. "pytorch_impl"
    extra: str  # the pip extra that installs the framework: pip install 'crosscheck[<extra>]'
    naming: str  # the spec's key naming and weight layout it speaks (crosscheck.spec.NAMINGS)
    layout: Literal["nchw", "nhwc"]  # the activation layout of its models, as its traces record them
    exporter: str  # the distribution its ONNX export goes through
    checkpoint_suffixes: tuple[str, ...]  # the checkpoint files in its naming, by suffix
    gpu_install: str  # how to get a CUDA build sharing the CUDA 12 libraries with the others (docs/doctor.md)
    training: Convention
    environment: Mapping[str, str] = field(default_factory=dict)  # set in its worker before the framework is imported
    # optional modules the framework imports whenever they are installed, for features no worker op uses: made
    # unimportable while the framework is imported (its code does without them), importable again after
    kept_out_of_import: tuple[str, ...] = ()
    cannot_build: Mapping[str, str] = field(default_factory=dict)  # verify finding code -> why no counterfactual here
    in_default_run: bool = True  # run when no --frameworks is given (another engine under the same model code: opt-in)
    cannot_export: str = ""  # why `exporter` cannot run in crosscheck's install, when it cannot
    float32_training: str = ""  # what takes its float32 training gradients away from float64, and the switch if any

    def preprocess_call(self, style: str) -> str:
        """The call that applies preprocessing `style` in this participant's implementation package."""
        return f"{self.impl_package}.preprocess_input(x, {style!r})"
