from pathlib import Path

import pytest
from pydantic import ValidationError

from rag.settings import Settings


def test_defaults_serve_a_newcomer() -> None:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.data_dir == Path("data")
    assert s.models_path == Path("data/models")
    assert (s.embedding_model, s.generator_model, s.quantization, s.device) == ("bundled", "bundled", "auto", "auto")
    assert s.chroma_url is None
    assert s.temperature == 0.0  # greedy
    assert s.chunk_size <= 254  # what all-MiniLM-L6-v2 reads


def test_environment_and_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("RAG_TOP_K=7\nRAG_DATA_DIR=/srv/qa\nRAG_TEMPERATURE=0.4\n")
    monkeypatch.setenv("RAG_TOP_K", "9")  # the environment wins over .env
    s = Settings(_env_file=dotenv)  # type: ignore[call-arg]
    assert (s.top_k, s.data_dir, s.temperature) == (9, Path("/srv/qa"), 0.4)
    assert s.models_path == Path("/srv/qa/models")
    monkeypatch.setenv("RAG_MODELS_DIR", "/shared/models")
    assert Settings(_env_file=dotenv).models_path == Path("/shared/models")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("chunk_overlap", 200, "chunk_overlap"),
        ("quantization", "fp4", "quantization"),
        ("top_k", 0, "top_k"),
        ("temperature", -1, "temperature"),
        ("max_new_tokens", 4000, "leaves no room"),
        ("collection", "a/b", "collection"),
    ],
)
def test_invalid_values_are_rejected_on_creation(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(_env_file=None, **{field: value})  # type: ignore[call-arg]


def test_what_reports_record_holds_no_secrets() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        chroma_url="https://store-user:store-pass@chroma.example:8443/api?token=t0ken",
        judge_base_url="http://[::1]:8001/v1?api_key=k3y#frag",
        judge_api_key="sk-secret",
        admin_password="admin-secret",
        serve_api_key="serve-secret",
    )
    recorded = settings.public_dump()
    assert recorded["chroma_url"] == "https://chroma.example:8443/api"
    assert recorded["judge_base_url"] == "http://[::1]:8001/v1"
    assert not {"judge_api_key", "admin_password", "serve_api_key"} & set(recorded)
    assert not any(s in str(recorded) for s in ("store-pass", "t0ken", "k3y", "secret"))


def test_a_rate_limit_that_is_not_a_rate_is_refused() -> None:
    assert Settings(_env_file=None, rate_limit="10/second;500/hour").rate_limit  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="rate_limit"):
        Settings(_env_file=None, rate_limit="often")  # type: ignore[call-arg]
