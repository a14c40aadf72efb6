"""Ingest stage: load files, split them into chunks, embed the chunks and write them to a knowledge base."""
