"""botfleet's control panel (Streamlit): `botfleet ui`, or beside the flows with `botfleet up`.

The pages read the state database, the candle store and the fleet's YAML through the library
(`botfleet.runtime.overview`, `risk.killswitch`, `runtime.controls`, `config.edit`,
`jobs.research`, `storage.results`, `data.store`); nothing here computes what the library
already does. Every page is behind the login of `panel.auth`.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # `panel` next to this file, also under `streamlit run`
    sys.path.insert(0, str(HERE))

import streamlit as st
from panel import warm

warm.wait_imports()  # the server's start-up imports (ui/serve.py): never two importers at once
from panel import auth, context

st.set_page_config(page_title="botfleet", page_icon=":material/smart_toy:", layout="wide")
warm.start()  # the fleet's load and the state engine, while the login form waits
user, role = auth.gate()
warm.wait()
ctx = context.current()

PAGES = [
    st.Page(str(HERE / "views" / "overview.py"), title="Overview", icon=":material/dashboard:", default=True),
    st.Page(str(HERE / "views" / "bot.py"), title="Bot detail", icon=":material/search:"),
    st.Page(str(HERE / "views" / "controls.py"), title="Controls", icon=":material/power_settings_new:"),
    st.Page(str(HERE / "views" / "config.py"), title="Config", icon=":material/edit_note:"),
    st.Page(str(HERE / "views" / "lab.py"), title="Strategy lab", icon=":material/science:"),
    st.Page(str(HERE / "views" / "data.py"), title="Data", icon=":material/database:"),
]
nav = st.navigation(PAGES)
with st.sidebar:
    st.caption(f"fleet **{ctx.fleet.name if ctx.fleet else ctx.path.name}**")
    st.caption(f"{user} ({role})")
    if ctx.load.errors:
        st.warning(f"{len(ctx.load.errors)} config error(s)")
    if st.button("Log out", key="logout"):
        auth.logout()
        st.rerun()
nav.run()
