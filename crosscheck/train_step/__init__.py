"""`crosscheck train-step`: does a model train the same in every framework, one SGD step at a time?

conventions (each framework's measured training conventions and the translation into one) -> worker_ops
(the step inside a framework worker, results in canonical names) -> session (every framework, both
precisions, compared) -> command (terminal, JSON, markdown, exit code).
"""
