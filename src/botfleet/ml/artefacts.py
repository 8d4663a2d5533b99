"""A version's files: the learner and what is needed to feed it.

LightGBM models are saved in LightGBM's own text format (readable, stable across versions,
and loading it runs no code); scikit-learn learners with joblib, which unpickles: only load
artefacts this fleet wrote. Sequence learners (`ml.sequence`) as a PyTorch `state_dict`,
loaded with `weights_only=True`, beside a JSON of their configuration. `meta.json` beside
the learner names its input columns, so a version can be loaded without the YAML that made it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

from botfleet import __version__
from botfleet.ml.sequence import SEQUENCE_ALGORITHMS, SequenceModel

LGB_FILE = "model.txt"
JOBLIB_FILE = "model.joblib"
META_FILE = "meta.json"


def version_dir(data_dir: Path, name: str, version: int) -> Path:
    return Path(data_dir) / "models" / name / str(version)


@cache
def code_version() -> str:
    """`botfleet X.Y.Z`, plus the git commit of the source tree when it is a checkout."""
    root = Path(__file__).resolve().parents[3]
    git = shutil.which("git")
    commit = ""
    if git and (root / ".git").exists():
        try:  # fixed arguments, no shell: only our own source folder is read
            out = subprocess.run([git, "-C", str(root), "rev-parse", "--short=12", "HEAD"],  # nosec B603
                                 capture_output=True, text=True, timeout=5, check=False)
            commit = out.stdout.strip() if out.returncode == 0 else ""
        except (OSError, subprocess.SubprocessError):
            commit = ""
    return f"botfleet {__version__}" + (f" git {commit}" if commit else "")


def save(folder: Path, estimator: Any, algorithm: str, columns: list[str], meta: dict) -> Path:
    """Write the learner and meta.json into `folder` (replaced if it exists)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    if algorithm == "lightgbm":
        estimator.booster_.save_model(str(folder / LGB_FILE))
    elif algorithm in SEQUENCE_ALGORITHMS:  # a state_dict and a JSON, never a pickle
        estimator.save(folder)
    elif algorithm == "ensemble":  # each member in its own format (ml.ensemble)
        estimator.save(folder, columns)
    else:
        import joblib

        joblib.dump(estimator, folder / JOBLIB_FILE)
    (folder / META_FILE).write_text(json.dumps({**meta, "columns": columns,
                                                "algorithm": algorithm}, indent=1,
                                               default=str), encoding="utf-8")
    return folder


def load(folder: Path, algorithm: str) -> Any:
    """The learner saved in `folder`: a LightGBM Booster or the scikit-learn estimator."""
    if algorithm == "lightgbm":
        import lightgbm as lgb

        path = folder / LGB_FILE
        if not path.is_file():
            raise FileNotFoundError(f"model file missing: {path}")
        return lgb.Booster(model_file=str(path))
    if algorithm in SEQUENCE_ALGORITHMS:
        return SequenceModel.load(folder)
    if algorithm == "ensemble":
        from botfleet.ml.ensemble import Ensemble

        return Ensemble.load(folder)
    import joblib

    path = folder / JOBLIB_FILE
    if not path.is_file():
        raise FileNotFoundError(f"model file missing: {path}")
    return joblib.load(path)
