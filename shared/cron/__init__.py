"""Cron functions' shared parts: the schedule table and each schedule's state in Redis, the
wrapper every cron handler runs under, and the work of the cron functions themselves."""
