"""Peers: the stacks our users would keep instead, run beside ours in the same bench run."""
