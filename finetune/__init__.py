"""Fine-tuning on the user's own data: LoRA adapters for the answer model and a fine-tuned embedder."""
