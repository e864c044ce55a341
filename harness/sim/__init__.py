"""Deterministic simulation of the real Raft code (docs/simulation.md).

options.py            SimOptions: the seed's swarm knobs
storage.py            simulated disk: durable state, pending writes, held effects
network.py            simulated network: delay, loss, duplication, partitions
cluster.py            SimCluster: RaftNode + KvStateMachine wired to both, effects carried out
clients.py            simulated clients and the history they record
nemesis.py            partitions, crashes, membership changes, leadership transfer
simulator.py          one seeded run: safety phase, liveness phase, linearizability, verdict
hypothesis_machine.py the rules of the Hypothesis Raft machine (tests and bench)
bruteforce_check.py   bounded fallback linearizability checker
"""
