"""Ingestion: validation, enrichment and the transactional store of customer interaction events."""
