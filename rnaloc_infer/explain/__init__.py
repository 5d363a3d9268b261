"""Explain a prediction: exact in-silico mutagenesis, tracks, pictures (docs/EXPLAIN.md)."""

from .ism import DEFAULT_MAX_LENGTH, Explanation, brute_force, explain_codes, explain_sequence, length_problem

__all__ = ["DEFAULT_MAX_LENGTH", "Explanation", "brute_force", "explain_codes", "explain_sequence", "length_problem"]
