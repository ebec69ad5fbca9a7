"""`crosscheck doctor`'s table and findings for the terminal, and its JSON document."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from crosscheck import backends
from crosscheck.doctor.environment import Environment
from crosscheck.framework_probe import FrameworkProbe
from crosscheck.doctor.findings import Finding

HEADERS = ("component", "version", "build", "devices seen", "TF32 default", "GPU proof")
NONE = "none"
MISSING = "[red]not installed[/red]"
# Short names for the table; the JSON keeps the frameworks' own switch names.
TF32_LABEL = {"cudnn.allow_tf32": "conv", "cuda.matmul.allow_tf32": "matmul",
              "tensor_float_32_execution": "all ops", "cublas_switch": "cuBLAS", "cudnn_switch": "cuDNN"}
STYLE = {"error": "red", "warning": "yellow", "note": "cyan"}


def table(env: Environment, width: int) -> Table:
    """One row per framework, ONNX exporter and onnxruntime, `width` columns wide at most (see _column_widths)."""
    rows = [[probe.framework, *_framework_cells(probe)] for probe in env.frameworks.values()]
    rows += [[backend.exporter, env.packages.get(backend.exporter) or MISSING, f"exports {name}", "", "", ""]
             for name, backend in backends.records().items()]
    version = env.packages.get("onnxruntime") or env.packages.get("onnxruntime-gpu")
    providers = ", ".join(name.removesuffix("ExecutionProvider") for name in env.providers) if env.providers else NONE
    rows.append(["onnxruntime", version or MISSING, "runs exports", f"providers: {providers}", "", ""])
    table = Table(title="what this environment can do", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
                  pad_edge=False)
    cells = [[Text.from_markup(cell).plain for cell in column] for column in zip(HEADERS, *rows)]
    for header, column_width in zip(HEADERS, _column_widths(cells, width - 3 * (len(HEADERS) - 1))):
        table.add_column(header, width=column_width)
    for row in rows:
        table.add_row(*row)
    return table


def _column_widths(columns: list[list[str]], budget: int) -> list[int]:
    """Narrow the widest column a character at a time until the table fits, but never below its longest word.

    Rich's own shrinking folds words (a version like 2.14.1+cu126 over two lines) at 80 columns.
    """
    widths = [max(len(line) for cell in column for line in cell.splitlines() or [""]) for column in columns]
    floors = [max(len(word) for cell in column for word in cell.split() or [""]) for column in columns]
    while sum(widths) > budget:
        shrinkable = [index for index, (width, floor) in enumerate(zip(widths, floors)) if width > floor]
        if not shrinkable:
            break  # narrower than the longest words: let the terminal wrap the lines
        widths[max(shrinkable, key=lambda index: widths[index])] -= 1
    return widths


def _framework_cells(probe: FrameworkProbe) -> list[str]:
    if probe.status != "ok":
        return [MISSING if probe.status == "missing" else "[red]probe failed[/red]", "", NONE, "", "no"]
    build = "\n".join([f"CUDA {probe.cuda}", *([f"cuDNN {probe.cudnn}"] if probe.cudnn else [])]) if probe.cuda else "CPU-only"
    blocker = probe.gpu_proof_blocker
    versions = probe.versions.items()
    return ["\n".join(f"{name} {version}" if len(versions) > 1 else version for name, version in versions), build,
            "\n".join(escape(device) for device in probe.devices) or NONE,
            "\n".join(f"{TF32_LABEL[name]} {'on' if value else 'off'}" for name, value in probe.tf32.items())
            if probe.cuda else "n/a",
            "[green]yes[/green]" if not blocker else f"no: {blocker}"]


def print_report(env: Environment, findings: list[Finding], console: Console) -> None:
    console.print(table(env, console.width))
    console.print(f"GPUs listed by nvidia-smi: {escape(', '.join(env.machine_gpus)) or NONE}", highlight=False)
    for finding in findings:
        console.print(f"[{STYLE[finding.severity]}]{finding.severity}[/]: {escape(finding.problem)}\n"
                      f"  fix: {escape(finding.fix)}", highlight=False)
    cpu = "[green]yes[/green]" if env.cpu_proof_ready else "[red]no[/red]"
    gpu = "[green]yes[/green]" if env.gpu_proof_ready else "no"
    console.print(f"CPU proof (crosscheck run --device cpu) can run: {cpu}; GPU proof (--device cuda) can run: {gpu}")


def as_dict(env: Environment, findings: list[Finding]) -> dict[str, Any]:
    return {**env.as_dict(), "findings": [asdict(finding) for finding in findings]}
