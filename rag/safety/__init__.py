"""Guardrails on the answer path: questions (policy.py), passages (injection.py), answers (pii.py, and the
injection output check), put together by guard.py and counted by events.py."""
