"""Delivering to users' backends: signed callbacks over a pooled keep-alive transport,
the address guard, and the hook where rate limits count a request."""
