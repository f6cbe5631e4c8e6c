"""The translation service (FastAPI) and its web page."""
