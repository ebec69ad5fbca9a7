"""The measured numbers of README.md and docs/: `python -m benchmarks.docs` measures them, `--check` guards them.

Measured values appear in the docs only inside generated blocks, `<!-- generated:NAME -->…<!-- /generated:NAME -->`.
Each block is rendered from benchmarks/results/docs.json (what the real `crosscheck` commands printed, with the
machine, load and versions they ran under) or from crosscheck/spec.py. Measuring rewrites the stored results and
the blocks; `--check` re-renders every block from what is stored and fails when a doc differs, so a hand edit of a
generated number fails the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from crosscheck import backends, spec

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "docs.json"
COMMAND = "python -m benchmarks.docs"
BLOCK = re.compile(r"<!-- generated:(?P<name>[\w-]+) -->(?P<body>.*?)<!-- /generated:(?P=name) -->", re.S)
TRAIN_STEP_MODELS = ("resnet18", "resnet50v2")
GATE_WEIGHTS = ("plain", "calibrated")
GATE_DEEP_MODEL = "resnet152"  # plain weights, without --onnx: the deepest id's rounding
DOC_PACKAGES = ("torch", "tensorflow", "keras", "paddlepaddle", "onnxruntime")  # the versions a conditions line names
TRAIN_STEP_QUANTITIES = {"loss": "loss", "gradients": "gradients", "parameters": "updated parameters"}
# What a measured number looks like in prose: a small distance, a time or a size, a ratio.
MEASURED_LOOKING = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:e-\d+|\s?(?:s|ms|min|GB|MB|GiB|MiB)\b|[×x](?![\w×]))")
# The test tiers' time budgets in docs/contributing.md: targets, not measurements, allowed only as spelled there.
TIME_BUDGETS = ("≤ 10 min", "≤ 30 min", "≤ 45 min")
# A fenced example whose printed lines tests/unit/test_docs.py checks against what the command prints today.
CHECKED_EXAMPLE = re.compile(r"^```text\n\$ crosscheck verify .*?^```", re.M | re.S)

Results = dict[str, Any]


def documents() -> list[Path]:
    """README.md and every docs/*.md: the files whose numbers this module guards."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def design_constants() -> dict[str, tuple[float, ...]]:
    """The numbers the docs may show outside generated blocks, as the docs spell them, with the values they stand for
    in the code: gates, epsilons and defaults are chosen, not measured (a test checks each spelling against them)."""
    import numpy as np

    from crosscheck import metrics
    from crosscheck.training_conventions import Hyperparameters

    torchvision_eps, keras_eps = spec.get("resnet18").bn_eps, spec.get("resnet50_v1").bn_eps
    float32_eps = float(np.float32(torchvision_eps))
    return {
        "1e-9": (metrics.FLOAT64_RTOL,), "1e-5": (metrics.FLOAT32_MIN_RTOL, torchvision_eps),
        "5e-3": (metrics.TF32_RTOL,), "1.001e-5": (keras_eps,), "1.001e-05": (keras_eps,),
        "1e-4": (Hyperparameters().weight_decay,), f"{float32_eps:.11e}": (float32_eps,),
    }


def hand_typed_numbers(text: str) -> list[str]:
    """Measured-looking numbers of a doc outside its generated blocks and checked examples, design constants aside."""
    prose = CHECKED_EXAMPLE.sub("", BLOCK.sub("", text))
    for budget in TIME_BUDGETS:
        prose = prose.replace(budget, "")
    allowed = design_constants()
    return [m.group() for m in MEASURED_LOOKING.finditer(prose) if m.group() not in allowed]


# --------------------------------------------------------------------------------------------
# Measuring: the real commands, in subprocesses, with the conditions they ran under


def crosscheck_json(arguments: Sequence[str], workdir: Path) -> tuple[dict[str, Any], float]:
    """Run `crosscheck ARGUMENTS --json FILE` as a user would; its JSON report and its wall seconds."""
    report = workdir / f"report-{len(list(workdir.iterdir()))}.json"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "crosscheck", *arguments, "--json", str(report)], cwd=workdir,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1) or not report.exists():
        raise RuntimeError(f"crosscheck {' '.join(arguments)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(report.read_text()), seconds


def conditions(load_before: str) -> dict[str, str]:
    """The machine, its load before and after, versions, commit and date, as benchmarks/run.py records them."""
    from benchmarks.run import machine

    lines = (line.removeprefix("- ").split(": ", 1) for line in machine(load_before))
    return {key: value for key, value in lines}


def measure_train_step(workdir: Path) -> dict[str, Any]:
    """`crosscheck train-step --model ID` at its defaults: worst float64 pair and float32 distances per quantity."""
    models = {}
    for model_id in TRAIN_STEP_MODELS:
        report, seconds = crosscheck_json(["train-step", "--model", model_id], workdir)
        quantities = [*TRAIN_STEP_QUANTITIES, "running_mean", "running_var"]
        models[model_id] = {
            "seconds": seconds, "passed": report["passed"], "steps": report["steps"], "batch": report["batch"],
            "image_size": report["image_size"], "seed": report["seed"],
            "float64_losses": report["float64_losses"]["torch"],
            "float64_worst_pair": {q: max(pair[q]["float64_rel_l2"] for pair in report["pairs"]) for q in quantities},
            "float32_vs_float64": {q: report["float32_vs_float64_rel_l2"][q] for q in quantities},
        }
    return {"models": models}


def gate_row(model: dict[str, Any], weights: str) -> dict[str, Any]:
    """One model of a `crosscheck run --json` report as the figures the gate table shows."""
    distances = model["float32_vs_float64_rel_l2"]
    native = {p: d for p, d in distances.items() if not p.endswith("-onnx")}
    pairs = model["pairs"]
    native_pairs = [p["float32_rel_l2"] for p in pairs if p["a"] in native and p["b"] in native]
    smallest = min(distances.values())
    return {
        "model_id": model["model_id"], "weights": weights, "float32_gate": model["float32_gate"],
        "float64_pairs": [p["float64_rel_l2"] for p in pairs if p["float64_rel_l2"] is not None],
        "float32_frameworks": list(native.values()),
        "float32_exports": [d for p, d in distances.items() if p not in native],
        "float32_pairs": [p["float32_rel_l2"] for p in pairs],
        "largest_over_smallest": max(distances.values()) / smallest,
        "worst_pair_over_smallest": max(p["float32_rel_l2"] for p in pairs) / smallest,
        "frameworks_largest_over_smallest": max(native.values()) / min(native.values()),
        "frameworks_worst_pair_over_smallest": max(native_pairs) / min(native.values()),
        "export_vs_native": [p["float32_rel_l2"] for p in pairs if p["b"] == f"{p['a']}-onnx"],
        "export_vs_export": [p["float32_rel_l2"] for p in pairs if p["a"].endswith("-onnx") and p["b"].endswith("-onnx")],
    }


def gate_rows(results: Results) -> list[dict[str, Any]]:
    return [gate_row(model, run["weights"]) for run in measured(results, "gates")["runs"] for model in run["models"]]


def measure_gates(workdir: Path) -> dict[str, Any]:
    """`crosscheck run --onnx --weights W` (the default ids) for both weight kinds, and the deepest id without ONNX."""
    runs = [["run", "--onnx", "--weights", weights] for weights in GATE_WEIGHTS]
    runs.append(["run", "--weights", "plain", "--models", GATE_DEEP_MODEL])
    made = []
    for arguments in runs:
        report, seconds = crosscheck_json(arguments, workdir)
        pair_keys = ("a", "b", "passed", "float64_rel_l2", "float32_rel_l2")
        models = [{"model_id": m["model_id"], "passed": m["passed"], "float32_gate": m["float32_gate"],
                   "float32_vs_float64_rel_l2": m["float32_vs_float64_rel_l2"],
                   "pairs": [{k: p[k] for k in pair_keys} for p in m["pairs"]]} for m in report["models"]]
        made.append({"command": f"crosscheck {' '.join(arguments)} --json FILE", "seconds": seconds,
                     "passed": report["passed"], "weights": report["config"]["weights"],
                     "batch": report["config"]["batch"], "seed": report["config"]["seed"], "models": models})
    return {"runs": made}


MEASUREMENTS: dict[str, Callable[[Path], dict[str, Any]]] = {"train-step": measure_train_step, "gates": measure_gates}


def measure(names: Iterable[str], results: Results) -> Results:
    """`results` with each named measurement made anew, each with its own conditions."""
    from benchmarks.run import load_average  # measuring only: the check and the tests need no benchmark machinery

    updated = dict(results)
    for name in names:
        load_before = load_average()
        with tempfile.TemporaryDirectory(prefix="crosscheck-docs-") as tmp:
            values = MEASUREMENTS[name](Path(tmp))
        updated[name] = {**values, "conditions": conditions(load_before)}
        print(f"measured {name}", file=sys.stderr)
    return updated


# --------------------------------------------------------------------------------------------
# Rendering: stored results and the spec -> the text of each generated block


def measured(results: Results, name: str) -> dict[str, Any]:
    """The stored measurement `name`, or an error saying how to make it."""
    if name not in results:
        raise LookupError(f"no stored measurement {name!r} in {RESULTS.relative_to(ROOT)}: run `{COMMAND} --only {name}`")
    return results[name]


def short_exponent(number: str) -> str:
    """`1e-05` as the docs write it, `1e-5`."""
    return re.sub(r"e-0(\d)", r"e-\1", number)


def sci(value: float) -> str:
    """A distance as the docs print it: two significant digits, in e-notation below 1, 0 as 0."""
    if value == 0 or value >= 1:
        return f"{value:.2g}"
    return short_exponent(f"{value:.1e}")


def span(values: Sequence[float]) -> str:
    """The range of `values`, `low … high`, or one value when they print alike."""
    low, high = sci(min(values)), sci(max(values))
    return low if low == high else f"{low} … {high}"


def constant(value: float) -> str:
    """A design constant as the docs spell it: 1e-5, 1.001e-5."""
    return short_exponent(f"{value:g}")


def duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def condition_line(name: str, results: Results) -> str:
    """One sentence: how and under what a measurement was made (the load counts other work on the machine)."""
    c = measured(results, name)["conditions"]
    load = next(value for key, value in c.items() if key.startswith("Load average")).split(" (")[0]
    packages = ", ".join(p for p in c["Packages"].split(", ") if p.split()[0] in DOC_PACKAGES)
    return (f"*Measured by `{COMMAND} --only {name}` on {c['Date']} at commit {c['Commit']}: {c['CPU']}, "
            f"load average (1, 5, 15 min) before / after {load}; Python {c['OS'].split('Python ')[-1]}, {packages}.*")


def render_train_step(results: Results) -> str:
    models = measured(results, "train-step")["models"]
    lines = ["| model (wall time) | quantity | float64, worst pair | float32 vs float64, per framework "
             "(torch, keras, paddle) |", "|---|---|---|---|"]
    for model_id, m in models.items():
        first = f"{model_id} ({duration(m['seconds'])})"
        for quantity, label in TRAIN_STEP_QUANTITIES.items():
            per_framework = ", ".join(sci(m["float32_vs_float64"][quantity][fw]) for fw in backends.default_names())
            lines.append(f"| {first} | {label} | {sci(m['float64_worst_pair'][quantity])} | {per_framework} |")
            first = ""
        statistics = ", ".join(f"{sci(m['float32_vs_float64']['running_mean'][fw])} / "
                               f"{sci(m['float32_vs_float64']['running_var'][fw])}" for fw in backends.default_names())
        lines.append(f"| {first} | BN running mean / variance | {sci(m['float64_worst_pair']['running_mean'])} / "
                     f"{sci(m['float64_worst_pair']['running_var'])} | {statistics} |")
    losses = "; ".join(f"{model_id} {', then '.join(f'{loss:.2g}' for loss in m['float64_losses'])}"
                       for model_id, m in models.items())
    passed = all(m["passed"] for m in models.values())
    return "\n".join(["", *lines, "", f"Every pair {'passed' if passed else 'did NOT pass'} in float64. "
                      f"The float64 loss at each step: {losses}.",
                      "", condition_line("train-step", results), ""])


def render_gates(results: Results) -> str:
    rows = gate_rows(results)
    lines = ["| model, weights | float64 pairs | float32 vs float64: frameworks | … ONNX exports | float32 pairs "
             "| float32 gate | largest / smallest | worst pair / smallest |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        exports = span(r["float32_exports"]) if r["float32_exports"] else "–"
        lines.append(f"| {r['model_id']}, {r['weights']} | {span(r['float64_pairs'])} | {span(r['float32_frameworks'])} "
                     f"| {exports} | {span(r['float32_pairs'])} | {sci(r['float32_gate'])} "
                     f"| {r['largest_over_smallest']:.2f} | {r['worst_pair_over_smallest']:.2f} |")
    runs = measured(results, "gates")["runs"]
    commands = "; ".join(f"`{r['command']}` ({duration(r['seconds'])}, {'passed' if r['passed'] else 'FAILED'})"
                         for r in runs)
    settings = ", ".join(sorted({f"batch {r['batch']}, seed {r['seed']}" for r in runs}))
    return "\n".join(["", *lines, "", f"Commands ({settings}): {commands}.", "", condition_line("gates", results), ""])


def render_gate_margins(results: Results) -> str:
    """The sentence on the factor 4: the widest spreads measured, and the margin they leave."""
    rows = gate_rows(results)
    spread = max(r["largest_over_smallest"] for r in rows)
    worst = max(r["worst_pair_over_smallest"] for r in rows)
    return (f"correct runs of one model land within {spread:.2f}× of the most accurate one, and their pairs within "
            f"{worst:.2f}× ([measured below](#measured-margins)): 4 leaves a margin of {4 / worst:.2f}")


def render_gate_notes(results: Results) -> str:
    """What the table shows beyond its columns: the float64 floors, the exports' rounding, the frameworks alone."""
    rows = gate_rows(results)
    floors = {r["model_id"]: max(r["float64_pairs"]) for r in rows}
    shallow, deep = min(floors, key=floors.get), max(floors, key=floors.get)
    onnx = [min(r["float32_frameworks"]) / max(r["float32_exports"]) for r in rows if r["float32_exports"]]
    onnx_high = [max(r["float32_frameworks"]) / min(r["float32_exports"]) for r in rows if r["float32_exports"]]
    alone = max(r["frameworks_largest_over_smallest"] for r in rows)
    alone_pairs = max(r["frameworks_worst_pair_over_smallest"] for r in rows)
    return (f"The float64 pairs stay between {sci(min(floors.values()))} ({shallow}) and {sci(floors[deep])} ({deep}). "
            f"onnxruntime's float32 distance is {min(onnx):.2f}–{max(onnx_high):.2f}× smaller than the frameworks', so "
            f"with `--onnx` it is usually the anchor; among the frameworks alone the two ratios are at most "
            f"{alone:.2f} and {alone_pairs:.2f}.")


def render_export_distances(results: Results) -> str:
    """How far an ONNX export lands from its native model and from the other exports, in the gate runs."""
    rows = gate_rows(results)
    native = [d for r in rows for d in r["export_vs_native"]]
    exports = [d for r in rows for d in r["export_vs_export"]]
    models = ", ".join(dict.fromkeys(r["model_id"] for r in rows if r["export_vs_native"]))
    batches = ", ".join(sorted({str(r["batch"]) for r in measured(results, "gates")["runs"]}))
    return (f"in the `run --onnx` measurements of [gates](gates.md#measured-margins) ({models}, plain and "
            f"calibrated weights, batch {batches}), an export's float32 output is {span(native)} from its native model's "
            f"and {span(exports)} from the other frameworks' exports")


def render_variants(_: Results) -> str:
    """README's variants table, one row per model id of the spec."""
    lines = ["| id | family | block | blocks per stage | input, classes | BN eps | head | equals |",
             "|---|---|---|---|---|---|---|---|"]
    for model_id in spec.MODEL_IDS:
        s = spec.get(model_id)
        references = ", ".join(f"`{r}`" for r in s.references.values()) or spec.origin(model_id).name
        lines.append(f"| `{model_id}` | {', '.join([s.family, *_design(s)])} "
                     f"| {s.block_kind.replace('_', ' ')} | {', '.join(map(str, s.depths))} "
                     f"| {s.input_size}×{s.input_size}, {s.num_classes} | {constant(s.bn_eps)} | {s.default_head} "
                     f"| {references} |")
    return "\n".join(["", *lines, ""])


def _design(s: spec.ModelSpec) -> list[str]:
    """What an id changes in its family's ResNet: its stem, its shortcut, its attention."""
    stems = {"cifar": "CIFAR stem", "deep": "deep stem"}
    return ([stems[s.stem]] if s.stem in stems else []) + \
        (["average-pool shortcut"] if any(b.shortcut == "avgpool_projection" for b in s.blocks) else []) + \
        (["squeeze-excitation"] if any(b.attention == "se" for b in s.blocks) else [])


RENDERERS: dict[str, Callable[[Results], str]] = {
    "variants": render_variants, "train-step": render_train_step, "gates": render_gates,
    "gate-margins": render_gate_margins, "gate-notes": render_gate_notes,
    "export-distances": render_export_distances,
}


def render(text: str, results: Results) -> str:
    """`text` with every generated block's body rendered anew; an unknown block name is an error."""
    def body(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in RENDERERS:
            raise KeyError(f"unknown generated block {name!r}; known: {', '.join(RENDERERS)}")
        return f"<!-- generated:{name} -->{RENDERERS[name](results)}<!-- /generated:{name} -->"
    return BLOCK.sub(body, text)


def stale_documents(results: Results, paths: Iterable[Path]) -> list[str]:
    """Each document whose generated blocks differ from what the renderers make of `results` and the spec."""
    return [path.name for path in paths if render(path.read_text(), results) != path.read_text()]


def load_results() -> Results:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", type=lambda text: text.split(","), default=list(MEASUREMENTS),
                        help=f"comma-separated measurements to make anew: {', '.join(MEASUREMENTS)} (default: all)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="measure nothing; exit 1 if a generated block differs "
                      "from what the stored results and the spec render")
    mode.add_argument("--render", action="store_true", help="measure nothing; rewrite the blocks from the stored "
                      "results and the spec (after a spec change)")
    args = parser.parse_args(argv)
    unknown = set(args.only) - set(MEASUREMENTS)
    if unknown:
        parser.error(f"unknown measurement(s) {', '.join(sorted(unknown))}; known: {', '.join(MEASUREMENTS)}")
    results = load_results()
    if args.check:
        stale = stale_documents(results, documents())
        print(f"generated blocks differ from {RESULTS.relative_to(ROOT)} and the spec in: {', '.join(stale)}; "
              f"run `{COMMAND} --render` (or measure anew)" if stale else "every generated block is up to date")
        return 1 if stale else 0
    if not args.render:
        results = measure(args.only, results)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    for path in documents():
        path.write_text(render(path.read_text(), results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
