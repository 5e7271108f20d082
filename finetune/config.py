"""The typed training configuration of a LoRA/QLoRA run, read from a TOML file and validated on creation."""

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

PRESETS = Path(__file__).parent / "presets"


class LoraTrainConfig(BaseModel):
    """Adapter shape (r, alpha, dropout, target modules) and the optimisation of one run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    r: int = Field(16, ge=1, le=512, description="LoRA rank.")
    alpha: int = Field(32, ge=1, description="LoRA scaling numerator: updates are scaled by alpha / r.")
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: list[str] = Field(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], min_length=1
    )
    learning_rate: float = Field(5e-4, gt=0.0, lt=1.0)
    epochs: float = Field(1.0, gt=0.0)
    max_steps: int = Field(-1, ge=-1, description="Stop after this many steps (-1: run the epochs).")
    batch_size: int = Field(4, ge=1)
    grad_accum: int = Field(1, ge=1)
    max_length: int = Field(1024, ge=64, description="Longer examples are left out, never cut.")
    quantize: Literal["none", "nf4"] = Field("none", description="nf4 = QLoRA (needs CUDA and bitsandbytes).")
    gradient_checkpointing: bool = False
    warmup_ratio: float = Field(0.05, ge=0.0, lt=1.0)
    logging_steps: int = Field(5, ge=1)
    save_steps: int = Field(25, ge=1, description="Checkpoint every this many steps (for --resume).")
    seed: int = 13

    @model_validator(mode="after")
    def _check(self) -> "LoraTrainConfig":
        if self.alpha < self.r // 4:
            raise ValueError(f"alpha {self.alpha} is tiny for r {self.r}: the adapter would barely change the model")
        return self

    @classmethod
    def load(cls, name_or_path: str) -> "LoraTrainConfig":
        """A preset name (cpu, gpu) or a TOML file path."""
        path = PRESETS / f"{name_or_path}.toml" if "/" not in name_or_path and "." not in name_or_path else None
        path = path if path is not None and path.is_file() else Path(name_or_path)
        if not path.is_file():
            known = ", ".join(sorted(p.stem for p in PRESETS.glob("*.toml")))
            raise FileNotFoundError(f"No training config '{name_or_path}': give a TOML file or a preset ({known}).")
        with path.open("rb") as handle:
            return cls(**tomllib.load(handle))
