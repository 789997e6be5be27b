"""KServe running MLServer: MLServer serves the custom runtime class in `server.py`."""
