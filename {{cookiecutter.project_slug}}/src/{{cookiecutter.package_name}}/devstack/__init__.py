"""The development stack: the servers this repo runs on one machine, on 127.0.0.1.

`processes` starts and stops any server (its own process group, a log file, a readiness check
with a deadline); `services` knows each server's command line, environment and health URL.
The tests' fixtures, the benchmarks and `make up` (local_stack.py) all start them from here.
"""
