"""``harness image build``: make the node image on a machine with no container registry.

Three steps, each reused when already done: (1) the base image — the one named
by ``--base``, or ``sinkron-base:bookworm`` built by scripts/build-base-image.sh
(debootstrap + ``docker import``) when it is missing; (2) a wheelhouse of the
project and the node's runtime dependencies (``pip wheel`` on the host, which
reaches PyPI), so the image build itself needs no network; (3) ``docker build``
with ``--build-arg BASE_IMAGE=...``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BASE = "sinkron-base:bookworm"
DEFAULT_TAG = "sinkron:latest"
# What a node process imports (the harness's plotting/ssh/docker libraries stay out of the image).
NODE_REQUIREMENTS = [
    "msgpack>=1.0",
    "aiohttp>=3.9",
    "prometheus-client>=0.19",
    "python-dotenv>=1.0",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action", choices=["build"], help="build the base (if missing) and node image"
    )
    parser.add_argument("--tag", default=DEFAULT_TAG, help=f"image tag (default {DEFAULT_TAG})")
    parser.add_argument(
        "--base",
        default=None,
        help=f"base image (default: {DEFAULT_BASE}, built offline if missing; "
        "pass python:3.11-slim where a registry is reachable)",
    )
    parser.add_argument("--rebuild-base", action="store_true", help="rebuild the debootstrap base")


def source_digest() -> str:
    """A digest of everything that goes into the wheel, so a stale image is never reused."""
    digest = hashlib.sha256()
    files = [REPO_ROOT / "pyproject.toml"]
    for package in ("spec", "impl", "harness"):
        files += sorted(
            p
            for p in (REPO_ROOT / package).rglob("*")
            if p.is_file() and p.suffix in {".py", ".json", ".html"}
        )
    for path in files:
        digest.update(str(path.relative_to(REPO_ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def current_tag() -> str:
    """The node image tag for the current source tree."""
    return f"sinkron:src-{source_digest()}"


def ensure_current_image() -> str:
    """Build the image for the current source unless it exists; returns its tag."""
    tag = current_tag()
    if not _image_exists(tag):
        build_image(tag)
    return tag


def _image_exists(tag: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0


def ensure_base_image(base: str | None, *, rebuild: bool = False) -> str:
    if base is not None:
        return base
    if rebuild or not _image_exists(DEFAULT_BASE):
        script = REPO_ROOT / "scripts" / "build-base-image.sh"
        if not script.exists():
            raise RuntimeError(f"{script} not found: run from a source checkout or pass --base")
        env_force = {"FORCE": "1"} if rebuild else {}
        subprocess.run(
            ["bash", str(script), DEFAULT_BASE], check=True, env={**os.environ, **env_force}
        )
    return DEFAULT_BASE


def build_wheelhouse(wheelhouse: Path) -> None:
    wheelhouse.mkdir(exist_ok=True)
    for old in wheelhouse.glob("sinkron-*.whl"):
        old.unlink()
    pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(wheelhouse)]
    subprocess.run([*pip, "--no-deps", str(REPO_ROOT)], check=True)
    requirements = wheelhouse / "requirements-node.txt"
    wanted = "\n".join(NODE_REQUIREMENTS) + "\n"
    if not requirements.exists() or requirements.read_text() != wanted:
        subprocess.run([*pip, *NODE_REQUIREMENTS], check=True)
        requirements.write_text(wanted)


def build_image(
    tag: str = DEFAULT_TAG, base: str | None = None, *, rebuild_base: bool = False
) -> str:
    """Build (or rebuild) the node image; returns its tag."""
    base_image = ensure_base_image(base, rebuild=rebuild_base)
    build_wheelhouse(REPO_ROOT / "wheelhouse")
    subprocess.run(
        [
            "docker",
            "build",
            "--quiet",
            "--build-arg",
            f"BASE_IMAGE={base_image}",
            "-t",
            tag,
            "-t",
            current_tag(),
            ".",
        ],
        check=True,
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
    )
    return tag


def main(args: argparse.Namespace) -> int:
    try:
        tag = build_image(args.tag, args.base, rebuild_base=args.rebuild_base)
    except (subprocess.CalledProcessError, RuntimeError, FileNotFoundError) as error:
        print(f"image build failed: {error}", file=sys.stderr)
        return 2
    print(f"built {tag}")
    return 0
