"""Greeting cards on paper: message templates, fit checks and print-ready PDFs.

- messages.py: the locked-down template language of card messages and their merge fields;
- fit.py: whether a message fits its card, measured by laying it out;
- render.py: cards, labels and manifest as bytes, from plain data (no database);
- formats.py: every size (cards, sheets, labels) in one place;
- fetcher.py: the only files WeasyPrint may read while rendering.
"""
