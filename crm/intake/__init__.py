"""Inquiries (Anfragen): the public form, the hotline capture, the queue and its assignment."""
