"""Fine-tuning, export and evaluation of the sentiment model (``python -m insights.training``).

Heavy dependencies (torch, transformers, scikit-learn) live in the ``train`` extra and are
imported inside the modules that need them, never by the server.
"""

LABELS: tuple[str, ...] = ("negative", "neutral", "positive")

#: The version folder the model is published under (model_repository/sentiment/<version>/model.onnx).
#: Bump it with every new artefact (retrained or quantized differently): the server reports it with each
#: answer, and Triton serves it.
#: The repository keeps only this version; earlier ones live in git history.
MODEL_VERSION = "3"
