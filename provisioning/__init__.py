"""Getting the bundled models onto the machine (`python -m rag provision`)."""
