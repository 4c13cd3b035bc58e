"""Sentiment: on-demand analysis (with the prediction cache and the rule-based fallback) and the worker
that scores every stored interaction with the model."""
