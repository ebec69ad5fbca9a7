"""Exporting a model loaded in a framework worker to a finished ONNX file: shared by `crosscheck export` and
`crosscheck run --onnx`.

The worker's framework exports with its own exporter (the backend's `onnx_export`, the worker op `export_onnx`);
this process finalises the file (`crosscheck.onnx_tools`: provenance metadata, opset check, optional
preprocessing in front). onnx and onnxruntime are an optional extra, so `crosscheck.onnx_tools` is imported
only when ONNX work is asked for.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from crosscheck import spec as specs
from crosscheck.worker.client import FrameworkWorker

DEFAULT_OPSET = 18  # torch.onnx's dynamo exporter emits opset >= 18 only
FORMAT = "crosscheck-onnx"


def participant(framework: str) -> str:
    """The match-matrix name of a framework's ONNX export, e.g. 'torch-onnx'."""
    return f"{framework}-onnx"


def metadata(spec: specs.ModelSpec, digest: str, framework: str, input_layout: str) -> dict[str, str]:
    """The provenance every export carries in its metadata_props, and the image pipeline its weights' origin evaluates
    with (the graph holds no resize or crop, so a deployer needs them)."""
    origin = specs.origin(spec.model_id)
    return {
        "format": FORMAT,
        "model_id": spec.model_id,
        "num_classes": str(spec.num_classes),
        "spec_version": specs.SPEC_VERSION,
        "source_framework": framework,
        "input_layout": input_layout,
        "input_size": str(spec.input_size),
        "weights_sha256": digest,
        "image_origin": origin.name,
        "image_resize_mode": origin.pipeline.mode,
        "image_resize": str(origin.pipeline.resize),
        "image_crop": str(origin.pipeline.crop),
        "image_interpolation": origin.pipeline.interpolation,
    }


def export_in_worker(worker: FrameworkWorker, spec: specs.ModelSpec, digest: str, path: Path, opset: int,
                     input_layout: str, preprocess: str = specs.NO_PREPROCESSING) -> float:
    """Export the model loaded in `worker` to `path`, finalise it and put the `preprocess` style in front of it;
    returns the exporter's seconds."""
    reply = worker.request("export_onnx", model_id=spec.model_id, num_classes=spec.num_classes, output=path,
                           opset=opset, input_layout=input_layout, image_size=spec.input_size)
    onnx_tools().finalize(path, metadata(spec, digest, worker.framework, input_layout), opset)
    if preprocess != specs.NO_PREPROCESSING:
        onnx_tools().prepend_preprocessing(path, specs.preprocessing(preprocess), input_layout)
    return float(reply["seconds"])


def onnx_tools() -> ModuleType:
    """crosscheck.onnx_tools, imported on first use: onnx and onnxruntime are an optional extra."""
    return importlib.import_module("crosscheck.onnx_tools")
