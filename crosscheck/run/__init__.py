"""`crosscheck run`: the match matrix, every framework against every other on the same weights and inputs.

session (weights, workers, forward passes in two precisions, gates) -> report (terminal tables, markdown)
-> command (CLI, progress, exit code).
"""
