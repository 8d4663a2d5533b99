"""Warm the panel's process before the first overview is asked for.

A fresh `botfleet ui` process has imported Streamlit and nothing else; the first page after
login would import pandas (1.3 s), SQLAlchemy and the risk/state modules (0.5 s) and load the
fleet's YAML (0.2 s for 100 bots) before it shows anything: most of the 2.9-5.6 s the first
overview took. So:

- `start_imports()`, from `ui/serve.py` as the server starts, imports those modules in a
  background thread while Streamlit boots and the browser connects;
- `start()`, from the first page run (usually the login form), loads the fleet and opens the
  state database's engine (both cached for the process) while the operator types;
- pages wait (`wait_imports()`, `wait()`) before doing the same work themselves. Importing one
  package from two threads at once is not safe (plotly looks pandas up in `sys.modules` and can
  find it half-initialised), so a page never imports while the warm-up does.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger("botfleet.ui")
imports_done = threading.Event()
done = threading.Event()  # the fleet's load and engine (the tests wait on it)
failure: str | None = None  # why the warm-up did not finish, if it did not
_lock = threading.Lock()
_imports_started = False
_started = False
WAIT_S = 60


def _imports() -> None:
    import pandas
    import pandas.io.formats.style  # the overview's coloured status cells

    import botfleet.config
    import botfleet.runtime.overview  # state DB models, risk, status
    import botfleet.strategy.fleet  # the load's strategy check

    del pandas, botfleet


def start_imports() -> None:
    """The modules every first page needs, in a background thread (once per process)."""
    global _imports_started
    with _lock:
        if _imports_started:
            return
        _imports_started = True

    def run() -> None:
        global failure
        try:
            _imports()
        except Exception as exc:  # warming only: the page that needs it reports the error
            failure = f"{type(exc).__name__}: {exc}"
            log.debug("import warm-up failed", exc_info=True)
        finally:
            imports_done.set()

    threading.Thread(target=run, name="botfleet-ui-imports", daemon=True).start()


def wait_imports() -> None:
    if _imports_started:
        imports_done.wait(WAIT_S)


def start() -> None:
    """Once per process: the imports (unless `start_imports` runs them), the fleet's load and
    the state engine, in a background thread; later calls return at once."""
    global _started
    with _lock:
        if _started:
            return
        _started = True
    from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

    thread = threading.Thread(target=_warm, name="botfleet-ui-warm", daemon=True)
    add_script_run_ctx(thread, get_script_run_ctx())  # the caches are st.cache_resource
    thread.start()


def wait() -> None:
    """Until `start`'s work is done (at once when it is, or was never started)."""
    if _started:
        done.wait(WAIT_S)


def _warm() -> None:
    global failure
    try:
        if _imports_started:
            imports_done.wait(WAIT_S)
        else:
            _imports()
        from panel import context

        path = context.fleet_file()
        if path.is_file():
            load = context.load_cached(path)
            if load.fleet is not None:
                context.state_engine(load.fleet.storage.state)
    except Exception as exc:  # warming only: the page itself reports any error
        failure = f"{type(exc).__name__}: {exc}"
        log.debug("warm-up failed", exc_info=True)
    finally:
        done.set()
