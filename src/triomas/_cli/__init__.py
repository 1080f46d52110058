"""The ``triomas`` command (click), for operators: run a node, look into it, control it."""
