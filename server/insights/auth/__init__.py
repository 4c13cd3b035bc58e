"""Authentication and authorization: passwords, tokens, sessions, API keys and permissions."""
