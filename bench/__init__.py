"""The add-on's benchmark: run `python bench/run.py` (see bench/README.md)."""
