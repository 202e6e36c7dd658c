"""Hostile-input strategies and bounded fuzzers (see hostile.py and test_fuzz.py)."""
