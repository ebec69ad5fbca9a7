"""`crosscheck convert`: a checkpoint from one ecosystem to another, verified before it is written.

session (read, relabel through the canonical form, write, run both sides, gate) -> command (CLI, report).
"""
