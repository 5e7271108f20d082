from finetune.cli import app
from rag.observe.logs import setup_command_logging

setup_command_logging("finetune")
app()
