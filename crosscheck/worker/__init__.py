"""The framework worker processes, one per framework, and the client that drives them.

client (start, talk to, time out, report on the processes; the session a command runs them in) · server (the
process's request loop, started by `python -m crosscheck.worker FRAMEWORK`) · state (the models a worker holds) ·
ops (the ops every command uses). Importing this package imports none of them, so the client never loads the server.
"""
