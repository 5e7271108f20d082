"""The generator server's app in-process (FastAPI's TestClient) with a fake generator: routes, the key, request
checking, caps and the queue, fast. tests/serving/test_generator_server.py runs the real server process on the
real model (hang-ups, deadlines, raw sockets)."""

import asyncio
import json

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient

from serving.generator_server import Queue, ServeConfigError, ServeLimits, check_exposure, make_app
from tests.fakes import FakeGenerator

KEY = "test-key"
HI = [{"role": "user", "content": "Say hello."}]
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def client(generator: FakeGenerator | None = None, **limits: object) -> TestClient:
    app = make_app(generator or FakeGenerator("Hello there."), ServeLimits(api_key=KEY, **limits))  # type: ignore[arg-type]
    return TestClient(app, headers={"Authorization": f"Bearer {KEY}"}, raise_server_exceptions=False)


def test_every_route_needs_the_key() -> None:
    anonymous = TestClient(make_app(FakeGenerator(), ServeLimits(api_key=KEY)))  # type: ignore[arg-type]
    assert anonymous.get("/v1/models").status_code == 401
    wrong = anonymous.post("/v1/chat/completions", json={"messages": HI}, headers={"Authorization": "Bearer no"})
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"] == "Bearer"
    assert client().get("/v1/models").json()["data"][0]["id"] == "fake-generator"


def test_a_plain_reply_with_its_token_counts() -> None:
    reply = client().post("/v1/chat/completions", json={"messages": HI, "max_tokens": 8}).json()
    assert reply["choices"][0]["message"]["content"] == "Hello there."
    assert reply["choices"][0]["finish_reason"] == "stop"
    assert reply["usage"]["completion_tokens"] == 2 and reply["usage"]["prompt_tokens"] == 6


def test_json_schema_and_forced_tool_replies_follow_the_schema_made_strict() -> None:
    generator = FakeGenerator()
    body = {"messages": HI, "response_format": {"type": "json_schema", "json_schema": {"schema": SCHEMA}}}
    reply = client(generator).post("/v1/chat/completions", json=body).json()
    assert json.loads(reply["choices"][0]["message"]["content"]) == {"city": "x"}
    assert generator.streamed[-1]["schema"] == SCHEMA | {"additionalProperties": False}
    tool = {"type": "function", "function": {"name": "record", "parameters": SCHEMA}}
    body = {"messages": HI, "tools": [tool], "tool_choice": {"type": "function", "function": {"name": "record"}}}
    reply = client(generator).post("/v1/chat/completions", json=body).json()
    call = reply["choices"][0]["message"]["tool_calls"][0]
    assert call["function"] == {"name": "record", "arguments": '{"city": "x"}'}
    assert reply["choices"][0]["finish_reason"] == "tool_calls"


def test_json_mode_takes_the_schema_the_client_wrote_into_its_prompt() -> None:
    generator = FakeGenerator()
    system = {
        "role": "system",
        "content": f"Answer in json that match the following json_schema:\n{json.dumps(SCHEMA)}",
    }
    body = {"messages": [system, *HI], "response_format": {"type": "json_object"}}
    assert client(generator).post("/v1/chat/completions", json=body).status_code == 200
    assert generator.streamed[-1]["schema"]["required"] == ["city"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        ([1], 400, "Input should be an object"),
        ({"messages": []}, 400, "messages"),
        ({"messages": [{"role": "user", "content": 5}]}, 400, "messages.0.content"),
        ({"messages": HI, "max_tokens": 0}, 400, "max_tokens"),
        ({"messages": HI, "top_p": 2}, 400, "top_p"),
        ({"messages": HI, "max_tokens": 5000}, 400, "at most 1024 (RAG_SERVE_MAX_TOKENS)"),
        ({"messages": HI, "stream": True}, 400, "streaming is not supported"),
        ({"messages": [{"role": "user", "content": "x" * 2000}]}, 413, "over 1 KB (RAG_SERVE_MAX_BODY_KB)"),
    ],
)
def test_requests_outside_the_limits_get_a_4xx_that_says_why(body: object, status: int, expected: str) -> None:
    reply = client(max_body_bytes=1024).post("/v1/chat/completions", json=body)
    assert reply.status_code == status and expected in reply.json()["error"]["message"], reply.text


def test_a_failing_generator_gives_a_json_500() -> None:
    class Broken(FakeGenerator):
        def stream(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
            raise RuntimeError("CUDA out of memory")

    reply = client(Broken()).post("/v1/chat/completions", json={"messages": HI})
    assert reply.status_code == 500 and reply.json()["error"]["message"] == "generation failed (RuntimeError)"


def test_the_queue_lets_only_so_many_wait_and_each_until_its_deadline() -> None:
    async def scenario() -> list[int]:
        queue, loop = Queue(max_waiting=1), asyncio.get_running_loop()
        release = asyncio.Event()

        async def hold() -> None:
            await release.wait()

        statuses = []
        running = asyncio.create_task(queue.run(hold, loop.time() + 10))  # generating
        await asyncio.sleep(0)
        waiting = asyncio.create_task(queue.run(hold, loop.time() + 0.2))  # waits, then its deadline passes
        await asyncio.sleep(0)
        for third in [queue.run(hold, loop.time() + 10), waiting]:  # the third finds the queue full
            try:
                await third
            except HTTPException as refused:
                statuses.append(refused.status_code)
        release.set()
        await running
        return statuses

    assert asyncio.run(scenario()) == [503, 503]


@pytest.mark.parametrize(("host", "key", "allowed"), [
    ("127.0.0.1", None, True), ("localhost", None, True), ("::1", None, True),
    ("0.0.0.0", None, False), ("192.0.2.4", None, False), ("0.0.0.0", KEY, True),
])  # fmt: skip
def test_only_loopback_may_go_without_a_key(host: str, key: str | None, allowed: bool) -> None:
    if allowed:
        check_exposure(host, ServeLimits(api_key=key))
    else:
        with pytest.raises(ServeConfigError, match="set RAG_SERVE_API_KEY"):
            check_exposure(host, ServeLimits(api_key=key))


def test_which_tool_a_request_forces() -> None:
    from serving.generator_server import ChatRequest, forced_tool, strict

    tool = {"type": "function", "function": {"name": "record", "parameters": SCHEMA}}
    other = {"type": "function", "function": {"name": "other", "parameters": SCHEMA}}

    def chosen(**fields: object) -> str | None:
        found = forced_tool(ChatRequest(messages=HI, **fields))  # type: ignore[arg-type]
        return found["name"] if found else None

    assert chosen(tools=[tool]) == "record"  # one tool and no choice: it is the one
    assert chosen(tools=[tool, other]) is None and chosen(tools=[tool, other], tool_choice="required") == "record"
    assert chosen(tools=[tool, other], tool_choice={"type": "function", "function": {"name": "other"}}) == "other"
    assert chosen(tools=[tool], tool_choice="none") is None
    nested = {"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {"type": "string"}}}}}
    assert strict(nested)["properties"]["a"]["additionalProperties"] is False
