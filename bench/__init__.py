"""The benchmark (``python bench/run.py``); speed is measured here, never asserted in a test."""
