"""The scenario language: model, loader and runner."""
