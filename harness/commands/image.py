"""``harness image build``: make the node image on a machine with no container registry.

Three steps, each reused when already done: (1) the base image — the one named
by ``--base``, or ``sinkron-base:bookworm`` built by scripts/build-base-image.sh
(debootstrap + ``docker import``) when it is missing; (2) a wheelhouse on the
host: ``wheelhouse/deps/`` holds the node's runtime dependencies (``pip wheel``
reaches PyPI once; kept while the requirement list is unchanged) and
``wheelhouse/project/`` the project wheel, built from a private copy of the
source so concurrent builds never share setuptools' ``build/`` folder; (3)
``docker build --build-arg BASE_IMAGE=...``. The Dockerfile installs the
dependencies and the project in two layers, so a source change rebuilds only
the small last layer.

``harness image build`` only tags that image when it exists (``--force`` rebuilds).
Every build also tags ``sinkron:src-<digest>``, a digest of what the node runs
(impl/, pyproject.toml, the Dockerfile and the requirement list): the docker
backend asks for that tag, so it never runs a node older than the source tree,
yet edits to the harness (which the node never imports) do not force a rebuild.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# SINKRON_BASE_IMAGE names the debootstrap base (to try a fresh machine's path without
# deleting the cached base; the ssh test hosts use it too).
DEFAULT_BASE = os.environ.get("SINKRON_BASE_IMAGE") or "sinkron-base:bookworm"
DEFAULT_TAG = "sinkron:latest"
LOCK_PATH = Path(tempfile.gettempdir()) / "sinkron-image-build.lock"
# What a node process imports (the harness's plotting/ssh/docker libraries stay out of the image).
NODE_REQUIREMENTS = [
    "msgpack>=1.0",
    "httptools>=0.6",
    "orjson>=3.8",
    "prometheus-client>=0.19",
    "python-dotenv>=1.0",
    "uvloop>=0.19",
]
# The node imports only impl/ (a test checks impl never imports spec/ or harness/).
NODE_SOURCES = ("impl",)
WHEEL_SOURCES = ("spec", "impl", "harness")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action", choices=["build"], help="build the base (if missing) and node image"
    )
    parser.add_argument(
        "--tag",
        default=DEFAULT_TAG,
        help=f"image tag (default {DEFAULT_TAG}, the tag docker-compose.yml uses)",
    )
    parser.add_argument(
        "--base",
        default=None,
        help=f"base image (default: {DEFAULT_BASE}, built offline if missing, "
        "SINKRON_BASE_IMAGE names another; "
        "pass python:3.11-slim where a registry is reachable)",
    )
    parser.add_argument("--rebuild-base", action="store_true", help="rebuild the debootstrap base")
    parser.add_argument(
        "--force",
        action="store_true",
        help="rebuild the node image even when this source tree's image exists",
    )


def source_digest() -> str:
    """A digest of everything the node image runs, so a stale image is never reused."""
    digest = hashlib.sha256()
    files = [REPO_ROOT / "pyproject.toml", REPO_ROOT / "Dockerfile"]
    for package in NODE_SOURCES:
        files += sorted(
            p
            for p in (REPO_ROOT / package).rglob("*")
            if p.is_file() and p.suffix in {".py", ".json", ".html"}
        )
    for path in files:
        digest.update(str(path.relative_to(REPO_ROOT)).encode())
        digest.update(path.read_bytes())
    digest.update("\n".join(NODE_REQUIREMENTS).encode())
    digest.update(DEFAULT_BASE.encode())  # the image the backends build on
    return digest.hexdigest()[:12]


def current_tag() -> str:
    """The node image tag for the current source tree."""
    return f"sinkron:src-{source_digest()}"


def image_exists(tag: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0


@contextlib.contextmanager
def build_lock() -> Iterator[None]:
    """One build at a time on this machine (pytest-xdist workers, several shells)."""
    with open(LOCK_PATH, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_current_image() -> str:
    """Build the image for the current source unless it exists; returns its tag."""
    tag = current_tag()
    if image_exists(tag):
        return tag
    with build_lock():
        if not image_exists(tag):  # someone else may have built it while we waited
            build_image(tag, locked=True)
    return tag


def ensure_base_image(base: str | None, *, rebuild: bool = False, locked: bool = False) -> str:
    """``base`` if given, else the debootstrap base, built when missing (or ``rebuild``).

    Under the build lock unless the caller holds it (``locked``): test workers that
    need only the base (the ssh test hosts) must not debootstrap it a second time
    while another worker builds the node image.
    """
    if base is not None:
        return base
    if not rebuild and image_exists(DEFAULT_BASE):
        return DEFAULT_BASE
    if not locked:
        with build_lock():
            return ensure_base_image(None, rebuild=rebuild, locked=True)
    if rebuild or not image_exists(DEFAULT_BASE):  # another process may have built it
        script = REPO_ROOT / "scripts" / "build-base-image.sh"
        if not script.exists():
            raise RuntimeError(f"{script} not found: run from a source checkout or pass --base")
        env_force = {"FORCE": "1"} if rebuild else {}
        subprocess.run(
            ["bash", str(script), DEFAULT_BASE], check=True, env={**os.environ, **env_force}
        )
    return DEFAULT_BASE


def build_wheelhouse(wheelhouse: Path) -> None:
    """Fill ``wheelhouse/deps`` (reused while NODE_REQUIREMENTS is unchanged) and ``/project``."""
    deps, project = wheelhouse / "deps", wheelhouse / "project"
    deps.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "wheel", "--quiet"]
    requirements = deps / "requirements-node.txt"
    wanted = "\n".join(NODE_REQUIREMENTS) + "\n"
    if not requirements.exists() or requirements.read_text() != wanted:
        subprocess.run([*pip, "--wheel-dir", str(deps), *NODE_REQUIREMENTS], check=True)
        requirements.write_text(wanted)
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir()
    with tempfile.TemporaryDirectory(prefix="sinkron-wheel-") as scratch:
        source = Path(scratch) / "src"
        source.mkdir()
        for name in ("pyproject.toml", "README.md"):
            if (REPO_ROOT / name).exists():
                shutil.copy2(REPO_ROOT / name, source / name)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for package in WHEEL_SOURCES:
            shutil.copytree(REPO_ROOT / package, source / package, ignore=ignore)
        # setuptools already installed here: build without an isolated env (no download, ~3 s).
        offline = ["--no-build-isolation"] if _has_build_backend() else []
        subprocess.run(
            [*pip, "--no-deps", *offline, "--wheel-dir", str(project), str(source)], check=True
        )


def _has_build_backend() -> bool:
    return all(importlib.util.find_spec(name) for name in ("setuptools", "wheel"))


def build_image(
    tag: str = DEFAULT_TAG,
    base: str | None = None,
    *,
    rebuild_base: bool = False,
    locked: bool = False,
) -> str:
    """Build (or rebuild) the node image as ``tag`` and ``current_tag()``; returns ``tag``.

    Raises:
        subprocess.CalledProcessError: debootstrap, pip or docker build failed.
        RuntimeError: the base image is missing and its script cannot be found.
    """
    if not locked:
        with build_lock():
            return build_image(tag, base, rebuild_base=rebuild_base, locked=True)
    # The digest is taken before the wheel is built: if the source changes meanwhile, the
    # image is labelled older than it is (a harmless rebuild next time), never newer.
    tags = dict.fromkeys([tag, current_tag()])
    base_image = ensure_base_image(base, rebuild=rebuild_base, locked=True)
    build_wheelhouse(REPO_ROOT / "wheelhouse")
    # On the debootstrap base every tool is already in place: build with no network at all,
    # so "offline" is enforced, not assumed. (python:3.11-slim needs apt for iptables.)
    offline = ["--network", "none"] if base is None else []
    subprocess.run(
        [
            "docker",
            "build",
            "--quiet",
            *offline,
            "--build-arg",
            f"BASE_IMAGE={base_image}",
            *(arg for name in tags for arg in ("-t", name)),
            ".",
        ],
        check=True,
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
    )
    prune_source_images(keep=3)
    return tag


def prune_source_images(*, keep: int) -> None:
    """Untag all but the newest ``keep`` ``sinkron:src-*`` images (one per source edit), and
    remove untagged node images.

    Without ``--force``: an image a container still uses stays. Only the small last
    layer differs between them, but the tags would pile up with every edit.
    """
    listing = subprocess.run(
        ["docker", "image", "ls", "sinkron", "--format", "{{.Tag}} {{.CreatedAt}}"],
        capture_output=True,
        text=True,
    )
    tags = sorted(
        (line.split(" ", 1) for line in listing.stdout.splitlines() if line.startswith("src-")),
        key=lambda item: item[1],
        reverse=True,
    )
    for tag, _ in tags[keep:]:
        subprocess.run(["docker", "image", "rm", f"sinkron:{tag}"], capture_output=True)
    # Untagged (dangling) node images left by re-tagging: only ours, by label.
    subprocess.run(
        ["docker", "image", "prune", "--force", "--filter", "label=org.sinkron.image=node"],
        capture_output=True,
    )


def main(args: argparse.Namespace) -> int:
    started = time.monotonic()
    try:
        # Reuse: the project wheel differs at every build (timestamps), so docker's layer
        # cache alone would rebuild the last layer each time; the source digest knows better.
        current = current_tag()
        if args.base is None and not (args.force or args.rebuild_base) and image_exists(current):
            if args.tag != current:
                subprocess.run(["docker", "tag", current, args.tag], check=True)
            print(f"{args.tag} is {current}, this source tree's image: reused (--force rebuilds)")
            return 0
        tag = build_image(args.tag, args.base, rebuild_base=args.rebuild_base)
    except (subprocess.CalledProcessError, RuntimeError, FileNotFoundError) as error:
        print(f"image build failed: {error}", file=sys.stderr)
        return 2
    print(f"built {tag} in {time.monotonic() - started:.0f} s")
    return 0
