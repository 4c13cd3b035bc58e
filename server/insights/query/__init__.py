"""The read side: interaction listings and search, trends, metrics and the heatmap from exact rollups,
customers, patterns, export, and the Redis cache of answers (docs/query.md)."""
