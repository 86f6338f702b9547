"""Model-repository models (TorchScript / torch.export plus a manifest), batched by rows."""
