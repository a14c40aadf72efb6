"""Adapters that put a knowledge base into other frameworks (LangChain)."""
