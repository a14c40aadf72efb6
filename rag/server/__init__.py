"""`rag serve`: knowledge bases behind an OpenAI-compatible HTTP API (FastAPI + uvicorn)."""
