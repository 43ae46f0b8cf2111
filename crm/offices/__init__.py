"""Branch offices (Geschäftsstellen) and the first-run setup."""
