"""Throughput of int8 ONNX vs fp32 ONNX vs PyTorch eager at batch 1 and batch 32, in one run.

Real test texts in split order (not length-sorted, as a server's micro-batcher sees them),
pre-tokenized so only the model is timed; each batch is right-padded to its longest text. Batch 32
also runs on the same texts sorted by length (what a batch scorer could do), for comparison.
ONNX Runtime: the server's session options (insights.inference.session: 2 intra-op threads, sequential,
no spinning); PyTorch: torch.set_num_threads(2).
Engines take turns for ``rounds`` rounds and each keeps its best round, to damp noise from other
processes on the machine.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from insights.dev.machine import cpu_model
from insights_training import MODEL_VERSION
from insights_training.data import load_splits
from insights_training.evaluate import EVAL_REPORT
from insights_training.export import EXPORT_REPORT
from insights_training.model import pad_batch
from insights_training.ort_model import OnnxSentiment

RunFn = Callable[[npt.NDArray[Any], npt.NDArray[Any]], npt.NDArray[Any]]


def _batches(ids: list[list[int]], batch: int) -> list[tuple[npt.NDArray[Any], npt.NDArray[Any]]]:
    return [pad_batch(ids[i : i + batch]) for i in range(0, len(ids), batch)]


def _time_once(run: RunFn, batches: list[tuple[npt.NDArray[Any], npt.NDArray[Any]]]) -> float:
    start = time.perf_counter()
    for input_ids, mask in batches:
        run(input_ids, mask)
    return time.perf_counter() - start


def _interleaved(runners: dict[str, RunFn], batches: list[tuple[npt.NDArray[Any], npt.NDArray[Any]]],
                 rounds: int) -> dict[str, float]:
    """Texts/s per engine; engines take turns each round, so load from other processes on the
    machine is spread over all of them rather than hitting one; the best round counts."""
    n = sum(len(b[0]) for b in batches)
    for run in runners.values():
        for input_ids, mask in batches[:3]:  # warm-up: allocator, kernels, thread pool
            run(input_ids, mask)
    best = dict.fromkeys(runners, float("inf"))
    for _ in range(rounds):
        for name, run in runners.items():
            best[name] = min(best[name], _time_once(run, batches))
    return {name: n / seconds for name, seconds in best.items()}


def run_bench(work_dir: Path, repo_dir: Path, n_single: int = 256, n_batched: int = 1024,
              rounds: int = 3) -> dict[str, Any]:
    import torch

    from insights_training.train import load_trained

    torch.set_num_threads(2)
    exp = json.loads((work_dir / EXPORT_REPORT).read_text())
    int8_path = work_dir / exp["models"][exp["best_int8"]]["file"]
    tok = repo_dir / "tokenizer.json"
    texts = [e.text for e in load_splits().test]
    engines: dict[str, OnnxSentiment] = {
        "int8 ONNX": OnnxSentiment(int8_path, tok),
        # The published file: the same int8 weights with LayerNorm unfused (what the servers run).
        "int8 ONNX, served graph": OnnxSentiment(repo_dir / MODEL_VERSION / "model.onnx", tok),
        "fp32 ONNX": OnnxSentiment(work_dir / "model.opt.onnx", tok),
    }
    ids = engines["int8 ONNX"].encode(texts)
    model = load_trained(work_dir)

    def eager(input_ids: npt.NDArray[Any], mask: npt.NDArray[Any]) -> npt.NDArray[Any]:
        with torch.inference_mode():
            out: npt.NDArray[Any] = model(torch.from_numpy(input_ids), torch.from_numpy(mask)).numpy()
            return out

    runners: dict[str, RunFn] = {name: e.run_arrays for name, e in engines.items()}
    runners["PyTorch eager"] = eager
    results: dict[str, Any] = {
        "machine": f"{cpu_model()}, {os.cpu_count()} cores",
        "load_before": os.getloadavg(),
        "int8_file": int8_path.name,
        "texts": {"batch_1": n_single, "batch_32": n_batched},
        "rounds": rounds,
        "mean_tokens": float(np.mean([len(x) for x in ids[:n_batched]])),
        "texts_per_s": {},
    }
    cases = {
        "batch_1": _batches(ids[:n_single], 1),
        "batch_32": _batches(ids[:n_batched], 32),
        # The same texts ordered by length first, as a batch scorer may: little padding left.
        "batch_32_sorted": _batches(sorted(ids[:n_batched], key=len), 32),
    }
    for case, batches in cases.items():
        for name, tp in _interleaved(runners, batches, rounds).items():
            results["texts_per_s"].setdefault(name, {})[case] = tp
    results["load_after"] = os.getloadavg()
    eager_tp = results["texts_per_s"]["PyTorch eager"]
    results["ratio_vs_eager"] = {
        name: {k: v / eager_tp[k] for k, v in tp.items()} for name, tp in results["texts_per_s"].items()
    }
    results["accuracy"] = accuracy(work_dir)
    print(format_table(results))
    print(accuracy_table(results["accuracy"]))
    return results


def accuracy(work_dir: Path) -> dict[str, dict[str, float]]:
    """Macro-F1 of each form, in domain (test split) and on every unseen corpus, from the export and
    evaluation reports of the same checkpoint (the unseen corpora are scored through the window rule)."""
    exp = json.loads((work_dir / EXPORT_REPORT).read_text())
    ev = json.loads((work_dir / EVAL_REPORT).read_text())
    forms = {"int8 ONNX, served graph": "served", "fp32 ONNX": "fp32_onnx", "PyTorch eager": "pytorch"}
    table: dict[str, dict[str, float]] = {}
    for form, key in forms.items():
        row = {"in-domain test": ev["test"][key]["macro_f1"]}
        for corpus in ev["ood"]:
            if key in corpus["methods"]:
                row[corpus["name"]] = corpus["methods"][key]["macro_f1"]
        table[form] = row
    table["int8 ONNX"] = {"in-domain test": exp["models"][exp["best_int8"]]["test"]["macro_f1"]}
    table["VADER"] = {"in-domain test": ev["test"]["vader"]["macro_f1"],
                      **{c["name"]: c["methods"]["vader"]["macro_f1"] for c in ev["ood"]}}
    return table


def accuracy_table(table: dict[str, dict[str, float]]) -> str:
    columns = list(dict.fromkeys(c for row in table.values() for c in row))
    lines = ["| Form | " + " | ".join(f"macro-F1, {c}" for c in columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for form, row in table.items():
        lines.append(f"| {form} | " + " | ".join(f"{row[c]:.4f}" if c in row else "—" for c in columns) + " |")
    return "\n".join(lines)


def format_table(r: dict[str, Any]) -> str:
    lines = ["| Engine | batch 1 (texts/s) | vs eager | batch 32 (texts/s) | vs eager "
             "| batch 32, length-sorted (texts/s) | vs eager |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, tp in r["texts_per_s"].items():
        ratio = r["ratio_vs_eager"][name]
        lines.append(f"| {name} | " + " | ".join(f"{tp[case]:.1f} | {ratio[case]:.2f}" for case in tp) + " |")
    return "\n".join(lines)
