"""Tests of the drift stage beside the shared ones in test_drift.py."""
