"""Text normalization shared by model training, export checks and the inference server.

Kept dependency-free (only ``re``) because the server's hot path imports it. Training, the
ONNX agreement checks and serving must all call :func:`normalize_text` so the model sees
text exactly as it saw it during fine-tuning.
"""

from __future__ import annotations

import re

#: Texts are cut to this many characters before normalization and tokenization (docs/rules.md).
MAX_TEXT_CHARS = 1000

#: Token budget of the served model (including [CLS]/[SEP]); the tokenizer.json shipped in
#: model_repository/sentiment truncates to this. 99.9 % of training tweets are far below it.
MAX_TOKENS = 128

_URL_RE = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION_RE = re.compile(r"(?<![\w@])@\w{1,30}")
_SPACE_RE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Return the model-facing form of ``text``.

    - cut to :data:`MAX_TEXT_CHARS` characters first, so the cost per text is bounded;
    - URLs become ``http`` and @mentions become ``@user``: they carry no sentiment, and in the
      tweet training corpus specific handles (airlines) would otherwise leak label priors;
    - runs of whitespace collapse to one space and the ends are stripped.
    Case and punctuation are left to the (uncased) WordPiece tokenizer.
    """
    text = text[:MAX_TEXT_CHARS]
    text = _URL_RE.sub("http", text)
    text = _MENTION_RE.sub("@user", text)
    return _SPACE_RE.sub(" ", text).strip()
