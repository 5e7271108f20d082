"""LoRA / QLoRA training of the answer model with peft and TRL's SFTTrainer (loss on the completion only)."""

import json
import time
from pathlib import Path
from typing import Any

import torch
from transformers.trainer_utils import get_last_checkpoint

from finetune.config import LoraTrainConfig
from finetune.data import Example, summary
from rag.adapter import head_summary, read_json
from rag.generator import quantization_config


def lora_config(config: LoraTrainConfig) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=config.r,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=list(config.target_modules),
        task_type="CAUSAL_LM",
    )


def load_base(model: str, config: LoraTrainConfig, device: str) -> Any:
    """The base model in full precision, or in 4-bit nf4 prepared for k-bit training (QLoRA, CUDA only)."""
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM

    if config.quantize == "nf4":
        if device != "cuda":
            raise ValueError('QLoRA (quantize = "nf4") needs a CUDA GPU: use the cpu preset (plain LoRA) here.')
        base = AutoModelForCausalLM.from_pretrained(
            model, quantization_config=quantization_config("nf4", device), device_map=device, dtype=torch.bfloat16
        )
        return prepare_model_for_kbit_training(base, use_gradient_checkpointing=config.gradient_checkpointing)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    return AutoModelForCausalLM.from_pretrained(model, dtype=dtype).to(device)


def fits(examples: list[Example], tokenizer: Any, max_length: int) -> tuple[list[Example], int]:
    """Examples whose prompt and completion fit in `max_length` tokens (cutting would drop the answer)."""
    kept = []
    for example in examples:
        messages = [*example.prompt, {"role": "assistant", "content": example.completion}]
        length = len(tokenizer.apply_chat_template(messages, return_dict=True)["input_ids"])
        if length <= max_length:
            kept.append(example)
    return kept, len(examples) - len(kept)


def sft_config(config: LoraTrainConfig, out: Path, device: str) -> Any:
    from trl import SFTConfig

    return SFTConfig(
        output_dir=str(out / "checkpoints"),
        completion_only_loss=True,
        max_length=config.max_length,
        packing=False,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.learning_rate,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        warmup_steps=config.warmup_ratio,
        lr_scheduler_type="cosine",
        activation_checkpointing=config.gradient_checkpointing,
        bf16=device == "cuda",
        logging_steps=config.logging_steps,
        save_steps=config.save_steps,
        save_total_limit=2,
        seed=config.seed,
        report_to="none",
        use_cpu=device == "cpu",
    )


def make_trainer(
    base_model: str, examples: list[Example], out: Path, config: LoraTrainConfig, device: str = "cpu"
) -> tuple[Any, list[Example], int]:
    """The SFTTrainer for a run, the examples it trains on, and how many were left out as too long."""
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(base_model)
    kept, too_long = fits(examples, tokenizer, config.max_length)
    if not kept:
        raise ValueError(f"No example fits in max_length {config.max_length} tokens: raise it in the config.")
    records = [{"prompt": e.prompt, "completion": [{"role": "assistant", "content": e.completion}]} for e in kept]
    trainer = SFTTrainer(
        model=load_base(base_model, config, device),
        args=sft_config(config, out, device),
        train_dataset=Dataset.from_list(records),
        processing_class=tokenizer,
        peft_config=lora_config(config),
    )
    return trainer, kept, too_long


def train_adapter(
    base_model: str,
    base_name: str,
    examples: list[Example],
    out: Path,
    config: LoraTrainConfig,
    device: str = "cpu",
    resume: bool = False,
) -> dict[str, Any]:
    """Train a LoRA adapter on `examples` and save it in `out` as a standard PEFT folder with a model card."""
    trainer, kept, too_long = make_trainer(base_model, examples, out, config, device)
    tokenizer = trainer.processing_class
    started = time.perf_counter()
    last = get_last_checkpoint(str(out / "checkpoints")) if (out / "checkpoints").is_dir() else None
    resumed_from = int(last.rsplit("-", 1)[1]) if resume and last else 0
    result = trainer.train(resume_from_checkpoint=last if resume and last else None)
    seconds = time.perf_counter() - started
    steps_here = max(result.global_step - resumed_from, 1)
    trainer.model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    losses = [(row["step"], row["loss"]) for row in trainer.state.log_history if "loss" in row]
    report = {
        "base_model": base_name,
        "data": summary(kept) | {"left_out_too_long": too_long},
        "config": config.model_dump(),
        "device": device,
        "steps": result.global_step,
        "examples_seen": result.global_step * config.batch_size * config.grad_accum,
        "resumed_from_step": resumed_from,
        "train_loss": round(float(result.training_loss), 4),
        "first_logged_loss": losses[0][1] if losses else None,
        "last_logged_loss": losses[-1][1] if losses else None,
        "seconds": round(seconds, 1),
        "seconds_per_step": round(seconds / steps_here, 2),  # of the steps run by this call
    }
    (out / "training.json").write_text(json.dumps(report | {"loss_log": losses}, indent=2), encoding="utf-8")
    plot_loss(losses, out / "loss.png")
    write_model_card(out, report)
    return report


def plot_loss(losses: list[tuple[int, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3.5), dpi=100)
    if losses:
        axes.plot([s for s, _ in losses], [loss for _, loss in losses], marker="o", markersize=3)
    axes.set_xlabel("step")
    axes.set_ylabel("training loss (answer tokens)")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def write_model_card(out: Path, training: dict[str, Any], held_out: dict[str, Any] | None = None) -> None:
    """README.md of the adapter folder: what it was trained from, on what, how, and how well it does."""
    card = out / "README.md"
    held_out = held_out or read_json(out / "evaluation.json").get("held_out")
    head = head_summary(out)
    lines = [
        "---",
        f"base_model: {training['base_model']}",
        "library_name: peft",
        "tags: [lora, rag, grounded-qa]",
        "---",
        "",
        f"# LoRA adapter for {training['base_model']}",
        "",
        "Trained by `python -m finetune train` to answer from numbered context passages, cite them as [n], and",
        'reply "I don\'t know based on the provided documents." when the passages do not hold the answer.',
        "",
        "## Data",
        f"```json\n{json.dumps(training['data'], indent=2)}\n```",
        "## Settings",
        f"```json\n{json.dumps(training['config'], indent=2)}\n```",
        f"Device {training['device']}, {training['steps']} steps, {training['seconds']} s "
        f"({training['seconds_per_step']} s/step); training loss {training['train_loss']}.",
        "",
        "## Held-out metrics",
        f"```json\n{json.dumps(held_out, indent=2)}\n```"
        if held_out
        else "Not evaluated yet: run `python -m finetune evaluate`.",
        "",
        "## Answerability head",
        "Decides when to abstain (`answerability.json`; layer, threshold, cross-validated rates):",
        f"```json\n{json.dumps({k: v for k, v in head.items() if k != 'cv_auc_by_layer'}, indent=2)}\n```"
        if head
        else "None: fit one with `python -m finetune head`.",
        "",
    ]
    card.write_text("\n".join(lines), encoding="utf-8")
