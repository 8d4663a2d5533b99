"""The HTML report printed to PDF by a real Chromium, driven with Playwright.

The charts are plotly.js, drawn by JavaScript, so a static HTML-to-PDF converter would print
empty boxes; a browser renders exactly what the HTML report shows. Only the system's browser is
used (`executable_path`): Playwright's own browser download is never triggered, so servers
without network access or with a pinned browser work the same.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from botfleet.reports import fmt
from botfleet.reports.html import render_html

ENV_VAR = "BOTFLEET_CHROMIUM"
CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
# A4 landscape less the 10 mm page margins (@page in style.CSS), in CSS pixels: the page is laid
# out at the printed width, so plotly sizes its charts for the paper rather than a screen.
PRINT_WIDTH_PX = round((297 - 20) / 25.4 * 96)
PRINT_HEIGHT_PX = round((210 - 20) / 25.4 * 96)
RENDER_TIMEOUT_MS = 60_000
# Flags for a headless print on a server: nothing fetched or updated in the background, no GPU,
# no first-run or sync machinery; the profile is a fresh empty directory per call.
LAUNCH_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", "--disable-sync")

# Every plot div has been drawn by plotly: newPlot ran (class, _fullLayout, the SVG), its axes
# carry labels and each of its traces has its layer in the SVG; fonts are loaded. Printing
# before this prints empty or half-drawn boxes.
_PLOTS_DRAWN = """() => {
  if (document.fonts && document.fonts.status !== 'loaded') return false;
  const divs = Array.from(document.querySelectorAll('.plotly-graph-div'));
  return divs.every(d => d.classList.contains('js-plotly-plot') && d._fullLayout && d._fullData
      && d.querySelector('svg.main-svg')
      && d.querySelectorAll('.xaxislayer-above text, .yaxislayer-above text').length > 0
      && d.querySelectorAll('.scatterlayer .trace, .heatmaplayer .hm').length
         >= d._fullData.filter(t => t.visible !== false).length);
}"""

FOOTER = ('<div style="font-size:7.5px;color:#6b7280;width:100%;margin:0 10mm;display:flex;'
          'justify-content:space-between;font-family:system-ui,sans-serif">'
          '<span>{title}</span><span>page <span class="pageNumber"></span> of '
          '<span class="totalPages"></span></span></div>')


class ChromiumNotFound(RuntimeError):
    pass


def find_chromium() -> str:
    """The browser to print with: $BOTFLEET_CHROMIUM, else the first of CANDIDATES found."""
    tried = []
    env = os.environ.get(ENV_VAR)
    if env:
        found = env if Path(env).is_file() and os.access(env, os.X_OK) else shutil.which(env)
        if found:
            return found
        tried.append(f"${ENV_VAR}={env}")
    for cand in CANDIDATES:
        if os.path.isabs(cand):
            if Path(cand).is_file() and os.access(cand, os.X_OK):
                return cand
        elif found := shutil.which(cand):
            return found
        tried.append(cand)
    raise ChromiumNotFound(
        "no Chromium to print the PDF with; tried " + ", ".join(tried)
        + f". Install one (e.g. `apt-get install chromium`) or set {ENV_VAR} to its path.")


def render_pdf(result, path: str | Path, html: str | None = None) -> Path:
    """Print the result's HTML report (or the given `html`) to an A4-landscape PDF at `path`."""
    page_html = render_html(result) if html is None else html
    return print_pdf(page_html, path, f"{result.name} · {result.strategy} · backtest")


def print_pdf(page_html: str, path: str | Path, title: str) -> Path:
    """Print any self-contained report page (a backtest's, the periodic trading report) to an
    A4-landscape PDF at `path`, `title` in every page's footer."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise RuntimeError("PDF reports need the playwright package (pip install playwright); "
                           "no browser download is needed, the system Chromium is used") from exc
    executable = find_chromium()
    path = Path(path)
    footer = FOOTER.format(title=fmt.esc(title))
    with tempfile.TemporaryDirectory(prefix="botfleet-report-") as tmp:
        src = Path(tmp) / "report.html"
        src.write_text(page_html, encoding="utf-8")
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(Path(tmp) / "profile"), executable_path=executable, headless=True,
                args=list(LAUNCH_ARGS),
                viewport={"width": PRINT_WIDTH_PX, "height": PRINT_HEIGHT_PX})
            try:
                page = context.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                # the page is self-contained; anything it asks of the network is a bug, and on
                # a server without network it would only wait for a timeout
                page.route(re.compile(r"^(https?|wss?)://"), lambda route: route.abort())
                page.emulate_media(media="print")  # charts are laid out for the paper
                page.goto(src.as_uri(), wait_until="load")
                _wait_drawn(page, errors)
                pdf = page.pdf(format="A4", landscape=True, print_background=True,
                               prefer_css_page_size=True, outline=True, tagged=True,
                               display_header_footer=True, header_template="<div></div>",
                               footer_template=footer,
                               margin={"top": "10mm", "bottom": "10mm", "left": "10mm",
                                       "right": "10mm"})
            finally:
                context.close()
    path.write_bytes(pdf)
    return path


def _wait_drawn(page, errors: list[str]) -> None:
    """Block until plotly has drawn every chart (`_PLOTS_DRAWN`), failing at once on a script
    error instead of printing empty chart boxes after the timeout."""
    deadline = time.monotonic() + RENDER_TIMEOUT_MS / 1000
    while not page.evaluate(_PLOTS_DRAWN):
        if errors:
            raise RuntimeError("the report's charts failed to render: " + "; ".join(errors))
        if time.monotonic() > deadline:
            raise RuntimeError(f"the report's charts were not drawn within "
                               f"{RENDER_TIMEOUT_MS / 1000:.0f} s")
        page.wait_for_timeout(50)
    if errors:
        raise RuntimeError("the report's charts failed to render: " + "; ".join(errors))
    # one more frame so plotly's last layout pass (text, annotations) is painted
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
