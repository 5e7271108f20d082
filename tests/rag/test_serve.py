"""`python -m rag serve`: a real server process, spoken to with the official OpenAI client."""

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI

from rag.serve import schema_in_prompt, strict
from tests.app.test_browser import free_port

REPO = Path(__file__).resolve().parents[2]
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "year": {"type": "integer"}},
    "required": ["city", "year"],
}


def start_server(models_dir: Path, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = os.environ | {"RAG_DATA_DIR": str(data_dir), "RAG_MODELS_DIR": str(models_dir)}
    command = [sys.executable, "-m", "rag", "serve", "--port", str(port)]
    server = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            OpenAI(base_url=url, api_key="none", timeout=2, max_retries=0).models.list()
            return server, url
        except Exception:
            time.sleep(0.5)
    server.kill()
    raise RuntimeError("the server did not start")


@pytest.fixture(scope="module")
def server_url(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server, url = start_server(models_dir, tmp_path_factory.mktemp("serve"))
    yield url
    server.terminate()
    server.wait(timeout=30)


def test_models_and_a_plain_answer(server_url: str) -> None:
    client = OpenAI(base_url=server_url, api_key="none")
    assert [m.id for m in client.models.list().data] == ["SmolLM2-135M-Instruct"]
    reply = client.chat.completions.create(
        model="any", messages=[{"role": "user", "content": "What is the capital of France?"}], max_tokens=16
    )
    assert reply.choices[0].message.content and reply.usage and reply.usage.completion_tokens > 0


def test_json_schema_replies_always_parse(server_url: str) -> None:
    client = OpenAI(base_url=server_url, api_key="none")
    reply = client.chat.completions.create(
        model="any",
        messages=[{"role": "user", "content": "Paris hosted the Olympics in 1924. Give city and year."}],
        response_format={"type": "json_schema", "json_schema": {"name": "event", "schema": SCHEMA}},
        max_tokens=48,
    )
    parsed = json.loads(reply.choices[0].message.content or "")
    assert set(parsed) == {"city", "year"} and isinstance(parsed["year"], int)


def test_a_forced_function_call_returns_its_arguments(server_url: str) -> None:
    client = OpenAI(base_url=server_url, api_key="none")
    reply = client.chat.completions.create(
        model="any",
        messages=[{"role": "user", "content": "Paris hosted the Olympics in 1924."}],
        tools=[{"type": "function", "function": {"name": "record", "parameters": SCHEMA}}],
        tool_choice={"type": "function", "function": {"name": "record"}},
        max_tokens=48,
    )
    call = (reply.choices[0].message.tool_calls or [])[0]
    assert call.function.name == "record"  # type: ignore[union-attr]
    assert set(json.loads(call.function.arguments)) == {"city", "year"}  # type: ignore[union-attr]
    assert reply.choices[0].finish_reason == "tool_calls"


def test_json_mode_follows_the_schema_in_the_prompt() -> None:
    prompt = f"Answer in json that match the following json_schema:\n\n{json.dumps(SCHEMA)}\n\nMake sure..."
    assert schema_in_prompt([{"role": "system", "content": prompt}]) == SCHEMA
    assert schema_in_prompt([{"role": "user", "content": "no schema here"}]) is None
    assert strict(SCHEMA)["additionalProperties"] is False
