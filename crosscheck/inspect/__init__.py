"""`crosscheck inspect FILE`: what a checkpoint holds, read as convert reads it, without converting anything.

summary (read through crosscheck.checkpoints.reader, then describe) -> command (CLI, table or JSON).
"""
