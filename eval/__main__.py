from eval.cli import app
from rag.observe.logs import setup_command_logging

setup_command_logging("eval")
app(prog_name="python -m eval")
