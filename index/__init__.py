"""Preflight's screening core: pure data in, explained stoplight verdicts out.

No I/O, no clock, no environment: the service passes in everything it needs
(incidents, the policy, today's date) and gets plain data back.
"""
