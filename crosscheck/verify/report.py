"""Render a VerifyReport: rich tables for the terminal, and the error-curve plot."""

from __future__ import annotations

import os

import numpy as np
from rich.console import Console
from rich.table import Table

from crosscheck.files import atomic_output
from crosscheck.verify import diagnose, numeric
from crosscheck.verify.session import VerifyReport


def print_report(report: VerifyReport, console: Console) -> None:
    config = report.config
    kwargs = f" {dict(config.kwargs)}" if config.kwargs else ""
    console.print(f"[bold]crosscheck verify[/bold] {config.source}:{config.name}{kwargs} "
                  f"({config.framework}, {report.candidate_class}) against [bold]{config.reference_label}[/bold], "
                  f"input {'x'.join(map(str, config.shape))}, gate rel L2 <= {config.rtol:.0e} in float64", highlight=False)
    if report.not_a_resnet:
        console.print(f"[red]NOT A RESNET:[/red] {report.not_a_resnet}", highlight=False)
        return
    for role, nearest in report.nearest.items():
        deviations = ", ".join(nearest["deviations"])
        console.print(f"{role}: {nearest['model_id']}{' with ' + deviations if deviations else ''}", highlight=False)
    _print_findings(report, console)
    _print_numbers(report, console)
    _print_verdict(report, console)


def _print_findings(report: VerifyReport, console: Console) -> None:
    if not report.findings:
        console.print(f"structure: blocks per stage {report.depths}, every layer aligns with {report.config.reference_label}")
        return
    table = Table(title=f"structure vs {report.config.reference_label} (blocks per stage {report.depths})", title_justify="left")
    for column in ("", "where", "finding"):
        table.add_column(column)
    for finding in report.findings:
        style = {diagnose.ERROR: "red", diagnose.WARNING: "yellow"}.get(finding.severity, "dim")
        table.add_row(f"[{style}]{finding.severity}[/{style}]", finding.where, finding.message())
    console.print(table)


def _print_numbers(report: VerifyReport, console: Console) -> None:
    """Stem, every block and the output; the first diverging layer gets its own row."""
    divergence = report.divergence
    weights = "the source's own" if report.config.against else "calibrated"
    table = Table(title=f"numbers in float64: rel L2 vs {report.config.reference_label} on {weights} weights "
                        f"({len(report.points)} points compared)", title_justify="left")
    for column in ("point", "rel L2", ""):
        table.add_column(column, justify="right" if column == "rel L2" else "left", no_wrap=column != "")  # details wrap
    for point in report.points:
        first = divergence is not None and point.name == divergence.name
        if point.kind == "layer" and not first:
            continue
        verdict = "ok" if point.passes(report.config.rtol) else "FAIL"
        if first:
            verdict = "[red]FIRST DIVERGENCE[/red]"
        detail = f" ({point.detail})" if point.detail else ""
        table.add_row(point.name, _number(point.rel_l2), verdict + detail)
    console.print(table)


def _print_verdict(report: VerifyReport, console: Console) -> None:
    for note in report.weight_notes[:3]:
        console.print(f"[dim]weights: {note}[/dim]", highlight=False)
    if len(report.weight_notes) > 3:
        console.print(f"[dim]weights: ... {len(report.weight_notes) - 3} more notes in --json[/dim]")
    for note in report.notes:
        console.print(f"[dim]note: {note}[/dim]", highlight=False)
    for finding in report.findings:
        if finding.severity == diagnose.WARNING:
            console.print(f"[yellow]warning:[/yellow] {finding.message()}", highlight=False)
    divergence = report.divergence
    if divergence is not None:
        console.print(f"[red]first divergence:[/red] {divergence.name} (rel L2 {_number(divergence.rel_l2)}"
                      f"{', ' + divergence.detail if divergence.detail else ''})", highlight=False)
        causes = report.causes
        for finding in causes:
            console.print(f"[red]cause:[/red] {finding.message()}", highlight=False)
        if not causes:
            console.print("[red]cause:[/red] no structural difference explains it: the layers align, so look at "
                          "weights, data layout or ops the trace cannot see (custom functions)", highlight=False)
    for test in report.counterfactuals:
        what = f"counterfactual: {report.config.reference_label} with {test.mutation.describe}"
        if test.explains:
            console.print(f"[yellow]{what} matches the candidate at every point (max rel L2 "
                          f"{_number(max(p.rel_l2 for p in test.points))}): this one change explains the whole "
                          f"mismatch[/yellow]", highlight=False)
        else:
            rest = numeric.first_failing_point(test.points, report.config.rtol)
            console.print(f"{what} still diverges at {rest.name} (rel L2 {_number(rest.rel_l2)}): more than this "
                          f"one change differs", highlight=False)
    for code, why in report.no_counterfactual.items():
        console.print(f"no counterfactual for {diagnose.TITLES[code]}: {why}", highlight=False)
    if report.matched:
        console.print(f"[yellow]the candidate is {report.matched}, not {report.config.reference_label}: it matches "
                      f"{report.matched} structurally and numerically[/yellow]", highlight=False)
    elif report.closest is not None:
        closest = report.closest
        which = f"{closest.model_id} itself" if closest.model_id == report.config.model_id else closest.model_id
        codes = ", ".join(f.title for f in diagnose.errors(closest.findings)) or "the numbers only"
        console.print(f"no other model id matches; closest: {which} (differs by: {codes})", highlight=False)
    if report.passed:
        console.print(f"[green]MATCH: the candidate computes {report.config.reference_label} "
                      f"(output rel L2 {_number(report.points[-1].rel_l2)})[/green]")
    else:
        console.print(f"[red]MISMATCH: the candidate is not {report.config.reference_label}[/red]")


def save_plot(report: VerifyReport, path: str | os.PathLike[str], overwrite: bool = False) -> None:
    """Per-point rel L2 (log scale) across depth, the gate, block outputs marked, the first divergence flagged."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    points = report.points
    values = np.array([p.rel_l2 for p in points], dtype=float)
    finite = values[np.isfinite(values) & (values > 0)]
    floor = min(report.config.rtol / 1e4, finite.min() if finite.size else 1.0) / 2
    ceiling = max(1.0, finite.max() if finite.size else 1.0) * 10
    shown = np.where(np.isfinite(values), np.maximum(values, floor), ceiling)
    figure, axes = plt.subplots(figsize=(11, 4.5))
    axes.plot(range(len(points)), shown, color="tab:blue", linewidth=1, label="every aligned layer")
    blocks = [i for i, p in enumerate(points) if p.kind != "layer"]
    axes.scatter(blocks, shown[blocks], color="tab:blue", s=14, zorder=3, label="stem / block outputs / output")
    broken = [i for i, v in enumerate(values) if not np.isfinite(v)]
    if broken:
        axes.scatter(broken, shown[broken], marker="x", color="tab:red", zorder=4, label="shape mismatch / missing")
    for test in report.counterfactuals:
        errors = np.array([p.rel_l2 for p in test.points], dtype=float)
        axes.plot(range(len(errors)), np.where(np.isfinite(errors), np.maximum(errors, floor), ceiling),
                  linestyle="--", linewidth=2, color="tab:orange", label=f"counterfactual: vs {report.config.reference_label} with "
                                                     f"{test.mutation.describe}")
    axes.axhline(report.config.rtol, color="tab:green", linestyle="--", label=f"gate {report.config.rtol:.0e}")
    divergence = report.divergence
    if divergence is not None:
        at = [p.name for p in points].index(divergence.name)
        axes.axvline(at, color="tab:red", linestyle=":")
        cause = report.causes[0].title if report.causes else "no structural cause found"
        axes.annotate(f"first divergence: {divergence.name}\n{cause}", (at, floor * 3), xytext=(8, 0),
                      textcoords="offset points", color="tab:red", fontsize=9,
                      bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "tab:red"})
    axes.set_yscale("log")
    axes.set_ylim(floor, ceiling * 2)
    ticks = [i for i, p in enumerate(points) if p.kind != "layer" and (p.name.endswith("block1") or p.kind == "output"
                                                                         or p.name == "stem")]
    axes.set_xticks(ticks, [points[i].name for i in ticks], rotation=30, ha="right", fontsize=8)
    axes.set_ylabel("relative L2 error vs reference\n(exact 0 drawn at the bottom)")
    config = report.config
    axes.set_title(f"{os.path.basename(config.source)}:{config.name} ({config.framework}) vs {config.reference_label}")
    axes.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    with atomic_output(path, overwrite) as temp:
        figure.savefig(temp, format="png", dpi=110)
    plt.close(figure)


def _number(value: float) -> str:
    return f"{value:.2e}" if np.isfinite(value) else "inf"
