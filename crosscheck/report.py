"""Render a RunReport: rich tables for the terminal (fit for 80 columns), markdown for files."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from crosscheck.runner import ModelResult, PairResult, RunReport

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


def _notes(result: ModelResult, gate: float) -> list[str]:
    """Lines under a model's table: float32 distances from the truth, divergences, errors."""
    distances = ", ".join(f"{name} {d:.2e}" for name, d in result.float32_distance.items())
    lines = [f"float32 vs float64 truth: {distances or '-'} (float32 gate {result.float32_gate:.1e})"]
    lines += [f"{name}: float32 is {result.float32_distance[name]:.2e} from its float64 truth, above the gate"
              for name in result.float32_outliers]
    for pair in result.pairs:
        if not pair.float64_passed:
            lines.append(f"{pair.a} vs {pair.b}: float64 rel L2 {pair.float64.rel_l2:.2e} > {gate:.0e}, "
                         f"first diverges at {pair.first_divergence or '?'}")
        elif not pair.float32_passed:
            lines.append(f"{pair.a} vs {pair.b}: float64 agrees, float32 rel L2 {pair.float32.rel_l2:.2e} > "
                         f"{result.float32_gate:.1e}: a float32 precision problem, not a translation bug")
    lines += [f"{framework}: ERROR: {error.splitlines()[0]}" for framework, error in result.errors.items()]
    return lines


def print_report(report: RunReport, console: Console) -> None:
    gate = report.config.float64_rtol
    for result in report.results:
        # Borderless, and the reasons go below the table: at 80 columns no number is ever cut.
        table = Table(title=f"{result.model_id}  (float64 gate {gate:.0e}, float32 gate {result.float32_gate:.1e})",
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
    stages = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in
                       {**report.stage_seconds, **report.overlapped_seconds}.items())
    console.print(f"wall time by stage: {stages} (total {sum(report.stage_seconds.values()):.1f} s)", highlight=False)
    verdict = "[green]all pairs match[/green]" if report.passed else "[red]MISMATCH or ERROR: see above[/red]"
    console.print(verdict)


def markdown(report: RunReport) -> str:
    config = report.config
    lines = [f"# crosscheck run: {'PASS' if report.passed else 'FAIL'}", "",
             f"Gates: float64 relative L2 <= {config.float64_rtol:.0e}; float32 per model (below). "
             f"Weights {config.weights}, batch {config.batch}, seed {config.seed}, device {config.device}.", ""]
    for result in report.results:
        lines += [f"## {result.model_id}", "", f"Float32 gate: {result.float32_gate:.2e}.", "",
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
    return "\n".join(lines) + "\n"
