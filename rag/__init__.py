"""Answering: settings, models, the vector store, retrieval, prompting, generation and the answer pipeline."""
