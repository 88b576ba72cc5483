"""The local emulator and the ``qs`` command (API Gateway, Lambda, EventBridge).

Nothing here runs in Lambda.
"""
