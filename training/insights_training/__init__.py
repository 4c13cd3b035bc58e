"""Fine-tuning, export and evaluation of the sentiment model (``python -m insights_training``).

A distribution of its own (``training/pyproject.toml``): the server never imports it, and its heavy
dependencies (torch, transformers, scikit-learn) are installed only by ``make model``. It imports the
serving code it must agree with (text normalization, the tokenizer wrapper, the long-text rule).
"""

LABELS: tuple[str, ...] = ("negative", "neutral", "positive")

#: The version folder the model is published under (model_repository/sentiment/<version>/model.onnx).
#: Bump it with every new artefact (retrained or quantized differently): the server reports it with each
#: answer, and Triton serves it.
#: Earlier versions stay in the repository beside it, for A/B rollouts (version 3: tweets only, in git
#: history as trained; version 4: version 3 in a faster graph, ``make model-v4``).
MODEL_VERSION = "5"
