"""Prompt template files shipped with the package."""
