"""What a checkpoint's preprocessing means in another framework, as one line (framework-free; used by convert).

Weights keep the preprocessing they were trained with whatever file carries them: the model id gives the
origin (crosscheck.spec.origin), the origin gives the style. The line says whether the destination
ecosystem's usual function for that topology computes it, and which `preprocess_input` call does.
"""

from __future__ import annotations

from crosscheck import backends
from crosscheck import spec as specs


def formula(p: specs.Preprocessing) -> str:
    """The convention in numbers, e.g. 'BGR, 0-255, - mean (103.939, 116.779, 123.68)'."""
    steps = [p.channel_order, "0-255" if p.divisor == 1.0 else f"/ {p.divisor:g}"]
    steps.append(f"- {p.mean[0]:g}" if len(set(p.mean)) == 1 else f"- mean {p.mean}")
    if any(s != 1.0 for s in p.std):
        steps.append(f"/ std {p.std}")
    return ", ".join(steps)


def usual(framework: str, model_id: str) -> tuple[str, str]:
    """(style, function) the reference pipeline of the framework's naming applies to this topology: torchvision and
    paddle.vision normalise by ImageNet mean/std; keras.applications uses caffe for ResNet and tf for ResNetV2."""
    naming = backends.get(framework).naming
    if naming == "keras":
        v2 = specs.get(model_id).family == "keras_v2"
        return ("tf", "keras.applications.resnet_v2.preprocess_input") if v2 else ("caffe", "keras.applications.resnet.preprocess_input")
    return "torch", f"{'torchvision' if naming == 'torch' else 'paddle.vision'}'s ImageNet Normalize"


def note(model_id: str, destination: str | None) -> str:
    """One line: the weights' expected preprocessing and what it means in `destination` (None: framework-free file)."""
    origin = specs.origin(model_id)
    p = specs.preprocessing(origin.preprocessing)
    line = f"preprocessing: {origin.name} weights expect {p.style} input ({formula(p)})"
    if destination is None:
        return line
    style, function = usual(destination, model_id)
    call = backends.get(destination).preprocess_call(p.style)
    if style == p.style:
        return f"{line}; in {destination}: {function}, or {call}"
    return f"{line}; in {destination}: NOT {function} - use {call} on RGB 0-255"
