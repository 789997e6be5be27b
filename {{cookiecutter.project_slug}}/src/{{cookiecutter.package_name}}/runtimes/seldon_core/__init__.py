"""Seldon Core: `seldon-core-microservice` serves the wrapper class in `server.py`."""
