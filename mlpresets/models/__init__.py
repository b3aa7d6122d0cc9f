"""Plain nn.Modules: backbones and heads. No Lightning, no data."""
