"""Queue management for admins (``/api/queues``) and the seeds' admin aliases."""
