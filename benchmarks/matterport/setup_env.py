"""Build the reference environment: real matterport Mask R-CNN (TF 1.15.5 / Keras 2.2.4) on Python 3.7.

    python benchmarks/matterport/setup_env.py            # builds benchmarks/matterport/.env37 (git-ignored)
    python benchmarks/matterport/setup_env.py --python /path/to/python3.7

The packages come from the package registry by name; ``mrcnn-tf115`` packages matterport's ``mrcnn`` for TF 1.15,
so no matterport code lives in this project. The benchmarks run matterport through ``runner.py`` in this env.
"""

from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
ENV_DIR = HERE / ".env37"
DEFAULT_PYTHON = Path.home() / ".pyenv" / "versions" / "3.7.16" / "bin" / "python"
PACKAGES = [
    "tensorflow==1.15.5",
    "keras==2.2.4",
    "h5py<3",
    "numpy==1.18.5",
    "scikit-image==0.16.2",
    "scipy==1.4.1",
    "protobuf<3.21",
    "mrcnn-tf115==0.0.2",
]


def env_python(env_dir: Path = ENV_DIR) -> Path:
    """The reference environment's interpreter (it may not exist yet)."""
    return env_dir / "bin" / "python"


def is_built(env_dir: Path = ENV_DIR) -> bool:
    """True once the env imports ``mrcnn.model`` (checked by the marker the build writes last)."""
    return (env_dir / ".built").exists() and env_python(env_dir).exists()


def build(python: Path, env_dir: Path = ENV_DIR) -> None:
    if not python.exists():
        raise SystemExit(
            f"Python 3.7 not found at {python}: matterport needs TF 1.15, which has no wheels past 3.7. "
            "Install it (pyenv install 3.7.16) or pass --python PATH."
        )
    version = subprocess.run([str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    if version != "3.7":
        raise SystemExit(f"{python} is Python {version}, not 3.7: TF 1.15.5 installs only on Python <= 3.7")
    if not env_python(env_dir).exists():
        print(f"creating venv {env_dir} with {python}", flush=True)
        subprocess.run([str(python), "-m", "venv", str(env_dir)], check=True)
    pip = [str(env_python(env_dir)), "-m", "pip"]
    subprocess.run(pip + ["install", "--upgrade", "pip<24"], check=True)
    subprocess.run(pip + ["install"] + PACKAGES, check=True)
    check = "import mrcnn.model, tensorflow, keras; print('mrcnn OK, TF', tensorflow.__version__, 'Keras', keras.__version__)"
    subprocess.run([str(env_python(env_dir)), "-c", check], check=True,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    (env_dir / ".built").write_text("\n".join(PACKAGES) + "\n")
    print(f"reference environment ready: {env_python(env_dir)}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", type=Path, default=DEFAULT_PYTHON, help="a Python 3.7 interpreter")
    parser.add_argument("--env", type=Path, default=ENV_DIR, help="where to build it (default %(default)s)")
    args = parser.parse_args(argv)
    if is_built(args.env):
        print(f"already built: {env_python(args.env)}")
        return
    build(args.python, args.env)


if __name__ == "__main__":
    main()
