"""The HTTP servers beside the app: the OpenAI-compatible generator endpoint (`python -m rag serve`)."""
