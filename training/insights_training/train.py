"""Fine-tune MiniLM into the 3-class sentiment classifier (CPU or GPU).

Recipe: AdamW (lr 6e-5, weight decay 0.01 off biases/LayerNorm), 6 % linear warm-up then linear
decay, 2 epochs, batch 32 with length-bucketed dynamic padding (tweets average ~30 tokens, so
padding to a fixed 64/128 would waste most of the compute), each example's loss weighted by its
annotator agreement. After training, per-class logit offsets are tuned on the validation split
for macro-F1 and folded into the head's bias, so the exported model needs no post-processing.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from transformers import get_linear_schedule_with_warmup

from insights.dev.machine import cpu_model
from insights.inference.text import MAX_TOKENS
from insights_training import LABELS, reviews, snippets
from insights_training.data import Example, Splits, load_splits
from insights_training.metrics import macro_f1
from insights_training.model import SentimentClassifier, build_model, encode, load_tokenizer, pad_batch, predict_logits

log = logging.getLogger(__name__)

# Version 2 used 20261127 without confidence weighting; model_card.md compares the runs.
TRAIN_SEED = 20261128
CHECKPOINT = "model.pt"
META = "train_meta.json"


@dataclass
class TrainConfig:
    epochs: int = 2
    batch_size: int = 32
    lr: float = 6e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_tokens: int = MAX_TOKENS
    seed: int = TRAIN_SEED
    threads: int = 2
    # Batches are drawn from pools of this many batches sorted by length: near-uniform lengths
    # inside a batch, yet still a random mix of lengths across the epoch.
    bucket_pool: int = 50
    # Tried and worse (model card, "Limits"): 4 epochs with label smoothing 0.1.
    label_smoothing: float = 0.0
    # Weight each example's loss by its annotator agreement (0.33-1.0; a third of the corpus is
    # 0.6-0.7), so contested labels pull the model less than unanimous ones.
    confidence_weighting: bool = True
    # Version 5 on: VADER's human-rated movie-review, editorial and tweet sentences join the tweets
    # (insights_training.snippets), so the model sees review language; evaluation stays on unseen corpora.
    snippets: bool = True
    # Off in version 5: the rated clothing reviews' training part (insights_training.reviews). Probed on top of
    # version 5 (benchmarks/inference/RESULTS_review_levers.md): the first data that move the drug reviews.
    reviews: bool = False
    history: list[dict[str, float]] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def bucketed_batches(lengths: list[int], batch_size: int, pool: int, rng: random.Random) -> list[list[int]]:
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    batches: list[list[int]] = []
    span = batch_size * pool
    for start in range(0, len(idx), span):
        chunk = sorted(idx[start : start + span], key=lambda i: lengths[i])
        batches.extend(chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def training_examples(splits: Splits, corpora: Path, cfg: TrainConfig) -> list[Example]:
    """What the model trains on: the training tweets and, as ``cfg`` says, the rated sentences (none of them a
    validation or test tweet) and the rated reviews' training part, both fetched into ``corpora``."""
    examples = list(splits.train)
    if cfg.snippets:
        held_out = {e.text for e in (*splits.validation, *splits.test)}
        extra = snippets.training_examples(corpora, held_out)
        log.info("%d rated sentences join the %d training tweets", len(extra), len(examples))
        examples += extra
    if cfg.reviews:
        extra = reviews.review_splits(corpora).train
        log.info("%d rated reviews join the %d training examples", len(extra), len(examples))
        examples += extra
    return examples


def tune_logit_offsets(logits: npt.NDArray[Any], labels: npt.NDArray[Any]) -> tuple[npt.NDArray[Any], float, float]:
    """Grid-search additive offsets for neutral/positive (negative fixed at 0) on validation."""
    base = macro_f1(labels, logits.argmax(1))
    best, best_f1 = np.zeros(len(LABELS), dtype=np.float32), base
    grid = np.arange(-1.5, 1.51, 0.1)
    for a in grid:
        for b in grid:
            off = np.array([0.0, a, b], dtype=np.float32)
            f1 = macro_f1(labels, (logits + off).argmax(1))
            if f1 > best_f1 + 1e-9:
                best, best_f1 = off, f1
    return best, base, best_f1


def train(out_dir: Path, cfg: TrainConfig | None = None, splits: Splits | None = None) -> Path:
    cfg = cfg or TrainConfig()
    splits = splits or load_splits()
    out_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(cfg.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(cfg.threads)

    examples = training_examples(splits, out_dir / "corpora", cfg)
    tok = load_tokenizer(cfg.max_tokens)
    train_ids = encode(tok, [e.text for e in examples])
    train_y = np.array([e.label for e in examples], dtype=np.int64)
    train_w = np.array([e.confidence if cfg.confidence_weighting else 1.0 for e in examples],
                       dtype=np.float32)
    val_texts = [e.text for e in splits.validation]
    val_y = np.array([e.label for e in splits.validation])

    model = build_model().to(device)
    no_decay = ("bias", "LayerNorm.weight", "LayerNorm.bias")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)],
         "weight_decay": cfg.weight_decay},
        {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr)
    rng = random.Random(cfg.seed)
    lengths = [len(x) for x in train_ids]
    steps_per_epoch = len(bucketed_batches(lengths, cfg.batch_size, cfg.bucket_pool, random.Random(0)))
    total = steps_per_epoch * cfg.epochs
    scheduler = get_linear_schedule_with_warmup(  # type: ignore[no-untyped-call, unused-ignore]
        optimizer, int(total * cfg.warmup_ratio), total
    )
    reduction = "none" if cfg.confidence_weighting else "mean"
    loss_fn = nn.CrossEntropyLoss(reduction=reduction, label_smoothing=cfg.label_smoothing)
    log.info("training on %s: %d examples, %d steps", device, len(train_ids), total)

    started = time.monotonic()
    step = 0
    for epoch in range(cfg.epochs):
        model.train()
        running = 0.0
        for batch in bucketed_batches(lengths, cfg.batch_size, cfg.bucket_pool, rng):
            input_ids, mask = pad_batch([train_ids[i] for i in batch])
            logits = model(torch.from_numpy(input_ids).to(device), torch.from_numpy(mask).to(device))
            loss = loss_fn(logits, torch.from_numpy(train_y[batch]).to(device))
            if cfg.confidence_weighting:
                weights = torch.from_numpy(train_w[batch]).to(device)
                loss = (loss * weights).sum() / weights.sum()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            running += loss.item()
            if step % 100 == 0:
                log.info("epoch %d step %d/%d loss %.4f elapsed %.0fs",
                         epoch + 1, step, total, running / 100, time.monotonic() - started)
                running = 0.0
        val_logits = predict_logits(model, tok, val_texts)
        val_f1 = macro_f1(val_y, val_logits.argmax(1))
        cfg.history.append({"epoch": epoch + 1, "val_macro_f1": val_f1, "elapsed_s": time.monotonic() - started})
        log.info("epoch %d done: validation macro-F1 %.4f (%.0fs)", epoch + 1, val_f1, time.monotonic() - started)
        # A fallback if a long CPU run is cut short: raw weights after each epoch.
        torch.save(model.state_dict(), out_dir / "last_epoch.pt")
    train_seconds = time.monotonic() - started

    model = model.cpu()
    offsets, f1_before, f1_after = tune_logit_offsets(val_logits, val_y)
    with torch.no_grad():
        model.head.bias.add_(torch.from_numpy(offsets))
    log.info("logit offsets %s: validation macro-F1 %.4f -> %.4f", offsets.tolist(), f1_before, f1_after)

    path = out_dir / CHECKPOINT
    torch.save(model.state_dict(), path)
    meta = {
        "config": asdict(cfg),
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(0),
        "machine": f"{cpu_model()}, {os.cpu_count()} cores",
        "torch_threads": torch.get_num_threads(),
        "train_seconds": round(train_seconds, 1),
        "steps": total,
        "logit_offsets": offsets.tolist(),
        "val_macro_f1_raw": f1_before,
        "val_macro_f1": f1_after,
        "training_examples": len(examples),
        "split_sizes": {"train": len(splits.train), "validation": len(splits.validation), "test": len(splits.test)},
        "split_fingerprint": splits.fingerprint(),
    }
    (out_dir / META).write_text(json.dumps(meta, indent=2))
    return path


def load_trained(out_dir: Path) -> SentimentClassifier:
    model = build_model(out_dir / CHECKPOINT)
    model.eval()
    return model
