import json
from pathlib import Path

import pytest

from provisioning.bundled import GGUF_SHA256, PROVENANCE_FILE, ProvisionError, is_provisioned, provision_generator
from rag.models import BUNDLED_GGUF, ModelNotFoundError, generator_model_path
from rag.types import file_sha256
from tests.helpers import make_settings


def test_provisioned_model_is_bf16_safetensors_with_provenance(models_dir: Path) -> None:
    settings = make_settings(Path("unused"), models_dir)
    folder = Path(generator_model_path(settings))
    assert is_provisioned(settings)
    assert (folder / "model.safetensors").stat().st_size > 200_000_000
    config = json.loads((folder / "config.json").read_text())
    assert config["dtype"] == "bfloat16" and config["model_type"] == "llama"
    assert json.loads((folder / PROVENANCE_FILE).read_text())["gguf_sha256"] == GGUF_SHA256
    assert file_sha256(folder / BUNDLED_GGUF) == GGUF_SHA256  # the GGUF as shipped, for the llamacpp backend
    assert provision_generator(settings) == folder  # already there: nothing to do


def test_missing_model_says_which_command_provisions_it(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"python -m rag provision"):
        generator_model_path(make_settings(tmp_path, tmp_path / "models"))


def test_a_gguf_with_the_wrong_checksum_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "SmolLM2-135M-Instruct.Q4_1.gguf"
    fake.write_bytes(b"GGUF" + b"\x00" * 1024)
    settings = make_settings(tmp_path, tmp_path / "models")
    with pytest.raises(ProvisionError, match="refusing to use it"):
        provision_generator(settings, gguf=fake)
    assert not is_provisioned(settings)
    assert list((tmp_path / "models").iterdir()) == []  # nothing half-written left behind
