"""Writes: plain keyword-only functions named <entity>_<action> (see STYLE.md)."""
