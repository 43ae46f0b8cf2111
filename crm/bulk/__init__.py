"""Bulk actions on the contact lists: tag, untag, assign an owner, add to a static list or a
newsletter (with a recorded consent source), export the selection."""
