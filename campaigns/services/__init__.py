"""Writes: plain keyword-only functions named <entity>_<action> (docs/architecture.md)."""
