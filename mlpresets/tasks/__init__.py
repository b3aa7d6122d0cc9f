"""LightningModules: what is optimized and measured, around a plain nn.Module."""
