"""The asyncio node process: a thin shell that carries out the sans-I/O cores' effects.

Nothing in here decides protocol questions; it moves bytes between the Raft
core, SQLite, TCP peers and HTTP clients, in the order ``impl.raft.effects``
prescribes.
"""
