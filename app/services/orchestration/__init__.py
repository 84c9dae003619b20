"""Orchestration: the scheduler that starts planned tasks once their dependencies are completed, exit checks, and
the run graph."""
