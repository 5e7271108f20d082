"""Streamlit pages of the app (`app.py` wires them together). They call `rag` and `ingest`; no logic of their own."""
