"""The general job API (``POST /api/jobs``): job types of the queue table, their options, and
the seed 004 job types' own work (delivery to the app, analytics counters)."""
