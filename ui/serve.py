"""`python ui/serve.py run ui/app.py ...`: Streamlit's own command line (what `botfleet ui`
starts), with the modules every first page needs imported in a background thread as the
server starts (`panel.warm`): in a fresh process the first page after login paid for pandas,
SQLAlchemy and the state/risk modules, about 2.5 s of the 2.9-5.6 s first overview.
"""

from __future__ import annotations

import sys


def main() -> None:
    # Streamlit first, in this thread: its import looks pandas up (through plotly), which must
    # not find it half-imported by the warm-up thread.
    from panel import warm  # ui/ is on sys.path: this file's folder
    from streamlit.web.cli import main as streamlit

    warm.start_imports()
    sys.argv[0] = "streamlit"
    streamlit()


if __name__ == "__main__":
    main()
