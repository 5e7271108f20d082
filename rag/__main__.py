from rag.cli import app

app(prog_name="python -m rag")
