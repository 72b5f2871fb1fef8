"""Shared pieces of the wuxia-gpt pipeline. Importing any module here has no side effects."""
