"""pydocket 0.27.2 API reference data and the rules that produce and read it."""
