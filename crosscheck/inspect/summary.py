"""What a checkpoint holds: format, where the ResNet is, which model, dtype, size, NaN/Inf and the weights' digest."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from crosscheck.checkpoints import canonical, reader
from crosscheck.worker.client import DEFAULT_TIMEOUT, worker_session


@dataclass(frozen=True)
class Summary:
    """One checkpoint described; `as_dict` is the --json output."""

    path: str
    format: str  # the suffix, e.g. ".ckpt"
    description: str  # what that format is and how it is read
    naming: str  # whose key scheme: torch, keras, paddle, canonical, or a model hub's layout (transformers, paddleclas, ...)
    library: str  # the model hub library whose layout the keys are in ("" for a framework's own naming)
    container: str  # the nested dict holding the model, "" for the top level
    prefix: str  # stripped from every key
    ignored_arrays: list[dict[str, Any]]  # every other array in the file: {"name": "head.fc.weight", "shape": [10, 2048]}
    ignored_count: int
    warnings: list[str]  # ignored arrays that look like a classifier head of the model, named
    model_id: str
    num_classes: int  # 0: no head
    head: str  # "none" or "N classes"
    dtypes: list[str]  # of the stored arrays
    parameters: int  # trainable, torchvision's convention
    values: int  # every stored number, BN statistics included
    nonfinite: list[str]  # native keys holding NaN or Inf
    sha256: str  # digest of the canonical arrays: the same weights give the same digest in any format
    frameworks_started: list[str]  # the workers reading needed (none for most formats)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def inspect(path: str | Path, model_id: str | None = None, key: str | None = None, prefix: str | None = None,
            timeout: float = DEFAULT_TIMEOUT) -> Summary:
    """Read `path` as convert would (nothing in it runs) and describe it; bad input raises CheckpointError."""
    file = reader.checkpoint(path)
    with worker_session("inspect", timeout) as session:
        found = reader.read(file, session.pool, session.tmp, model_id, key, prefix)
        started = sorted(session.pool.workers)
    spec, native = found.spec, found.located.native
    return Summary(
        path=str(file.path), format=file.suffix, description=reader.DESCRIPTIONS[file.suffix], naming=found.naming,
        library=found.layout.library if found.layout else "",
        container=found.located.container, prefix=found.located.prefix, 
        ignored_arrays=[{"name": array.name, "shape": list(array.shape)} for array in found.located.ignored],
        ignored_count=len(found.located.ignored), warnings=found.warnings,
        model_id=spec.model_id, num_classes=spec.num_classes,
        head="none" if spec.headless else f"{spec.num_classes} classes",
        dtypes=sorted({str(np.asarray(array).dtype) for array in native.values()}),
        parameters=spec.num_params(), values=spec.num_params(include_running_stats=True),
        nonfinite=reader.nonfinite(found), sha256=canonical.digest(spec, found.arrays), frameworks_started=started,
    )
