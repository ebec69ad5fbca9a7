"""Render a RunReport: rich tables for the terminal, markdown for files."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from crosscheck.runner import ModelResult, RunReport

COLUMNS = ("pair", "max abs", "rel L2", "cosine", "top-1", "result")


def _rows(result: ModelResult, gate: float) -> list[tuple[str, ...]]:
    rows = []
    for pair in result.pairs:
        a = pair.agreement
        verdict = "PASS" if pair.passed else f"FAIL (first diverges at {pair.first_divergence or '?'})"
        rows.append((f"{pair.a} vs {pair.b}", f"{a.max_abs:.2e}", f"{a.rel_l2:.2e}", f"{a.cosine:.9f}",
                     f"{a.top1:.0%}", verdict))
    for framework, error in result.errors.items():
        rows.append((framework, "-", "-", "-", "-", f"ERROR: {error.splitlines()[0]}"))
    return rows


def print_report(report: RunReport, console: Console) -> None:
    gate = report.config.gate
    for result in report.results:
        table = Table(title=f"{result.model_id}  (gate: rel L2 <= {gate:.0e})", title_justify="left")
        for column in COLUMNS:
            table.add_column(column, justify="left" if column in ("pair", "result") else "right", no_wrap=column == "pair")
        for row in _rows(result, gate):
            style = "green" if row[-1] == "PASS" else "red"
            table.add_row(*row[:-1], f"[{style}]{row[-1]}[/{style}]")
        console.print(table)
    for framework, error in report.framework_errors.items():
        console.print(f"[red]{framework} worker failed:[/red] {error}", markup=True, highlight=False)
    settings = Table(title="numeric settings in force", title_justify="left")
    settings.add_column("framework")
    settings.add_column("settings")
    for framework, values in report.settings.items():
        settings.add_row(framework, ", ".join(f"{k}={v}" for k, v in values.items()))
    console.print(settings)
    stages = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in
                       {**report.stage_seconds, **report.overlapped_seconds}.items())
    console.print(f"wall time by stage: {stages} (total {sum(report.stage_seconds.values()):.1f} s)")
    verdict = "[green]all pairs match[/green]" if report.passed else "[red]MISMATCH or ERROR: see above[/red]"
    console.print(verdict)


def markdown(report: RunReport) -> str:
    lines = [f"# crosscheck run: {'PASS' if report.passed else 'FAIL'}", "",
             f"Gate: relative L2 error <= {report.config.gate:.0e}; batch {report.config.batch}, "
             f"seed {report.config.seed}, device {report.config.device}.", ""]
    for result in report.results:
        lines += [f"## {result.model_id}", "", "| " + " | ".join(COLUMNS) + " |",
                  "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(row) + " |" for row in _rows(result, report.config.gate)]
        lines.append("")
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
