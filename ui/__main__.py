"""`python -m ui [streamlit options]`: start the app (`make run` does) with the server options the settings
imply: no upload to the server larger than RAG_MAX_UPLOAD_MB (Streamlit's own default is 200 MB, open to any
visitor's session) and no error details in the browser (tracebacks go to this terminal)."""

import os
import sys
from pathlib import Path

from rag.settings import Settings


def main() -> None:
    settings = Settings()
    app = Path(__file__).resolve().parents[1] / "app.py"
    options = [f"--server.maxUploadSize={settings.max_upload_mb}", "--client.showErrorDetails=none"]
    os.execv(sys.executable, [sys.executable, "-m", "streamlit", "run", str(app), *options, *sys.argv[1:]])


main()
