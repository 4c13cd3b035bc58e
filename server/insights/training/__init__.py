"""Fine-tuning, export and evaluation of the sentiment model (``python -m insights.training``).

Heavy dependencies (torch, transformers, scikit-learn) live in the ``train`` extra and are
imported inside the modules that need them, never by the server.
"""

LABELS: tuple[str, ...] = ("negative", "neutral", "positive")
