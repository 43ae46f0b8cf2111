"""Accounts: users, roles, branch offices, login sessions."""
