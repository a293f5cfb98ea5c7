"""Tiny handlers and helpers that the local-stack tests wire into their own templates."""
