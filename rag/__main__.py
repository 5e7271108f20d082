from rag.cli import app
from rag.observe.logs import setup_command_logging

setup_command_logging("rag")
app(prog_name="python -m rag")
