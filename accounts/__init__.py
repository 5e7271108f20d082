"""Accounts of the app: users, roles, passwords and sign-in throttling."""
