"""Render a RunReport: rich tables for the terminal (fit for 80 columns), markdown for files."""

from __future__ import annotations

import numpy as np
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from crosscheck.metrics import FLOAT32_ROUNDING_FACTOR
from crosscheck.run.session import ModelResult, PairResult, RunReport

CONSOLE_COLUMNS = ("pair", "float64\nrel L2", "float32\nrel L2", "float32\ncosine", "top-1", "result")
MARKDOWN_COLUMNS = ("pair", "float64 rel L2", "float64 max abs", "float32 rel L2", "float32 max abs", "cosine",
                    "top-1", "result")


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.2e}"


def _verdict(pair: PairResult) -> str:
    return "PASS" if pair.passed else "FAIL"


def _pair_cells(pair: PairResult, markdown: bool) -> tuple[str, ...]:
    exact, rounded = pair.float64, pair.float32
    cells = [f"{pair.a} vs {pair.b}", _number(exact.rel_l2 if exact else None)]
    if markdown:
        cells.append(_number(exact.max_abs if exact else None))
    cells.append(_number(rounded.rel_l2))
    if markdown:
        cells.append(_number(rounded.max_abs))
    cells += [f"{rounded.cosine:.9f}", f"{rounded.top1:.0%}", _verdict(pair)]
    return tuple(cells)


def _gate_text(result: ModelResult) -> str:
    """The float32 gate and where it comes from: the floor, the most accurate run, or none (a single run)."""
    if result.float32_gate is None:
        return "float32 not judged: a single float32 run has nothing to be compared with"
    anchor = result.float32_anchor
    if anchor is not None and result.float32_gate == FLOAT32_ROUNDING_FACTOR * result.float32_distance[anchor]:
        return f"float32 gate {result.float32_gate:.1e} = {FLOAT32_ROUNDING_FACTOR:g} x {anchor}'s, the smallest"
    return f"float32 gate {result.float32_gate:.1e}"


def _precision_problem(result: ModelResult, names: list[str]) -> str:
    """'a precision problem of X' for float32 outliers, saying whether float64 vouches that X computes the same
    function as another framework (ONNX exports run in float32 only)."""
    float64_checked = [p for p in result.pairs if p.float64 is not None and {p.a, p.b} & set(names)]
    if not float64_checked:
        return f"a precision problem of {', '.join(names)}"
    if any(p.float64_passed for p in float64_checked):
        return f"a precision problem of {', '.join(names)} (float64 agrees: same function)"
    return f"a problem of {', '.join(names)}, not of precision alone: its float64 differs too"


def _outlier_line(result: ModelResult, name: str) -> str:
    distance, anchor = result.float32_distance[name], result.float32_anchor
    ratio = f", {distance / result.float32_distance[anchor]:.0f}x {anchor}'s" \
        if anchor and result.float32_distance[anchor] > 0 and np.isfinite(distance) else ""
    return (f"{name}: float32 is {distance:.2e} from its float64 truth{ratio}, above the gate: "
            f"{_precision_problem(result, [name])}")


def _divergence_text(pair: PairResult) -> str:
    if pair.block_capture_error:
        return f"the block outputs could not be captured: {pair.block_capture_error.splitlines()[0]}"
    if pair.diverging_block is None:
        return "no captured block differs beyond the gate"
    return f"first diverges at {pair.diverging_block}"


def _notes(result: ModelResult, gate: float) -> list[str]:
    """Lines under a model's table: float32 distances from the truth and the gate, outliers, divergences, errors."""
    distances = ", ".join(f"{name} {d:.2e}" for name, d in result.float32_distance.items())
    lines = [f"float32 vs float64 truth: {distances or '-'} ({_gate_text(result)})"]
    lines += [_outlier_line(result, name) for name in result.float32_outliers]
    for pair in result.pairs:
        if not pair.float64_passed:
            lines.append(f"{pair.a} vs {pair.b}: float64 rel L2 {pair.float64.rel_l2:.2e} > {gate:.0e}, "
                         f"{_divergence_text(pair)}")
        elif not pair.float32_passed:
            suspects = [name for name in (pair.a, pair.b) if name in result.float32_outliers]
            cause = _precision_problem(result, suspects) if suspects else \
                "a float32 precision problem, neither run alone above the gate"
            lines.append(f"{pair.a} vs {pair.b}: float32 rel L2 {pair.float32.rel_l2:.2e} > "
                         f"{result.float32_gate:.1e}: {cause}")
    lines += [f"{framework}: ERROR: {error.splitlines()[0]}" for framework, error in result.errors.items()]
    return lines


def _gate_title(result: ModelResult) -> str:
    return "float32 not judged" if result.float32_gate is None else f"float32 gate {result.float32_gate:.1e}"


def print_report(report: RunReport, console: Console) -> None:
    gate = report.config.float64_rtol
    for result in report.results:
        # Borderless, and the reasons go below the table: at 80 columns no number is ever cut.
        table = Table(title=f"{result.model_id}  (float64 gate {gate:.0e}, {_gate_title(result)})",
                      title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
        for column in CONSOLE_COLUMNS:
            table.add_column(column, justify="left" if column in ("pair", "result") else "right", no_wrap=True)
        for pair in result.pairs:
            cells = _pair_cells(pair, markdown=False)
            style = "green" if pair.passed else "red"
            table.add_row(*cells[:-1], f"[{style}]{cells[-1]}[/{style}]")
        console.print(table)
        for line in _notes(result, gate):
            console.print(line, highlight=False, soft_wrap=True)
    for framework, error in report.framework_errors.items():
        console.print(f"[red]{framework} worker failed:[/red] {escape(error)}", markup=True, highlight=False)
    console.print("numeric settings in force:")
    for framework, values in report.settings.items():
        console.print(f"  {framework}: " + ", ".join(f"{k}={v}" for k, v in values.items()), highlight=False)
    stages = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in report.stage_seconds.items())
    console.print(f"wall time: {stages} (total {sum(report.stage_seconds.values()):.1f} s); inside the workers "
                  "stage, wall / CPU seconds summed over the models:", highlight=False)
    for owner, stages in _work_by_owner(report).items():
        console.print(f"  {owner}: " + ", ".join(f"{stage} {wall:.1f} / {cpu}" for stage, (wall, cpu) in stages.items()),
                      highlight=False)
    verdict = "[green]all pairs match[/green]" if report.passed else "[red]MISMATCH or ERROR: see above[/red]"
    console.print(verdict)


def markdown(report: RunReport) -> str:
    config = report.config
    lines = [f"# crosscheck run: {'PASS' if report.passed else 'FAIL'}", "",
             f"Gates: float64 relative L2 <= {config.float64_rtol:.0e}; float32 per model (below). "
             f"Weights {config.weights}, batch {config.batch}, seed {config.seed}, device {config.device}.", ""]
    for result in report.results:
        lines += [f"## {result.model_id}", "", f"{_gate_title(result).capitalize()}.", "",
                  "| " + " | ".join(MARKDOWN_COLUMNS) + " |", "|" + "---|" * len(MARKDOWN_COLUMNS)]
        lines += ["| " + " | ".join(_pair_cells(pair, markdown=True)) + " |" for pair in result.pairs]
        lines += [""] + [f"- {line}" for line in _notes(result, config.float64_rtol)] + [""]
    if report.framework_errors:
        lines += ["## Worker failures", ""]
        lines += [f"- **{fw}**: `{error.splitlines()[0]}`" for fw, error in report.framework_errors.items()]
        lines.append("")
    lines += ["## Numeric settings", ""]
    lines += [f"- **{fw}**: " + ", ".join(f"{k}={v}" for k, v in values.items())
              for fw, values in report.settings.items()]
    lines += ["", "## Wall time by stage", ""]
    lines += [f"- {name}: {seconds:.2f} s" for name, seconds in report.stage_seconds.items()]
    lines += ["", "Inside the workers stage, wall / CPU seconds summed over the models:", ""]
    lines += [f"- {owner}: " + ", ".join(f"{stage} {wall:.2f} / {cpu}" for stage, (wall, cpu) in stages.items())
              for owner, stages in _work_by_owner(report).items()]
    return "\n".join(lines) + "\n"


def _work_by_owner(report: RunReport) -> dict[str, dict[str, tuple[float, str]]]:
    """{framework, or "main process": {stage: (wall, CPU as text, "-" where unmeasured)}} from the report's
    "stage framework" keys."""
    owners: dict[str, dict[str, tuple[float, str]]] = {}
    for name, wall in report.overlapped_seconds.items():
        stage, _, owner = name.rpartition(" ")
        if owner not in report.config.frameworks:
            stage, owner = name, "main process"
        cpu = report.cpu_seconds.get(name)
        owners.setdefault(owner, {})[stage] = (wall, "-" if cpu is None else f"{cpu:.1f}")
    return owners
