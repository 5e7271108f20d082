from ingest.cli import app
from rag.observe.logs import setup_command_logging

setup_command_logging("ingest")
app(prog_name="python -m ingest")
