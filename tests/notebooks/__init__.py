"""Notebook hygiene: the committed notebooks, read as files."""
