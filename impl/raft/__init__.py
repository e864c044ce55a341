"""Sans-I/O Raft: ``RaftNode.step(event) -> list[Effect]``. See node.py's theory of operation."""
