"""mlpresets: Hydra-composed experiment runner for image models on PyTorch Lightning."""
