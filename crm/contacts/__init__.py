"""Contacts: organisations, people, activities, search, import and export."""
