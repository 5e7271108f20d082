"""Ingestion: files -> clean text -> token-sized chunks -> embeddings in the store."""
