"""Backtest reports: one self-contained HTML page per run (or per comparison of runs), and the
same page printed to PDF by the system's Chromium.

`render_pdf` is imported on use so that rendering HTML never needs playwright.
"""

from __future__ import annotations

from botfleet.reports.html import render_comparison_html, render_html


def render_pdf(result, path, html=None):
    """See `botfleet.reports.pdf.render_pdf` (imported here lazily)."""
    from botfleet.reports.pdf import render_pdf as _render_pdf

    return _render_pdf(result, path, html)


__all__ = ["render_comparison_html", "render_html", "render_pdf"]
