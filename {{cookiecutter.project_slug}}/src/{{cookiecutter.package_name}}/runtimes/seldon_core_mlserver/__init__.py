"""Seldon Core 1 running MLServer (runtimes/mlserver) with the Open Inference Protocol."""
