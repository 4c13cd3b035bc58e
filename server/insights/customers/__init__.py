"""Customers and their data: typed models, the one repository, export/erasure, retention."""
