"""Allmine-compatible live-stream backend."""
