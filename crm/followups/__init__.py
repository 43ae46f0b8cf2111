"""Follow-ups (Wiedervorlagen): due dates, assignees, reminders by e-mail."""
