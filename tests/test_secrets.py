"""Secret files (link secret, encryption keys, codec token): owner-only from the first byte,
and two first runs at once agree on one secret instead of each writing its own."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from infra.codec import KeyRing, endpoint_token
from infra.settings import Settings
from tests.conftest import ROOT


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESOLUTIONS_")}
    return {**env, "RESOLUTIONS_DATA_DIR": str(data_dir)}


def test_commands_started_together_share_one_link_secret(tmp_path: Path) -> None:
    data = tmp_path / "data"
    args = [sys.executable, "-m", "starter.cli", "link", "--raiser", "--name", "Rae Raiser",
            "--email", "rae@school.example"]
    env = {**_env(data), "RESOLUTIONS_ROLES": '{"rae@school.example": {"role": "raiser"}}'}
    procs = [subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    links = {out.strip() for out, _ in outputs}
    assert len(links) == 1, links  # one grant, one secret: one link
    assert "/t/" in links.pop()
    assert stat.S_IMODE((data / "link_secret").stat().st_mode) == 0o600
    assert not [p.name for p in data.iterdir() if p.name.endswith(".tmp")]


def test_first_runs_at_once_agree_on_the_keys_and_codec_token(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    with ThreadPoolExecutor(8) as pool:
        rings = list(pool.map(lambda _: KeyRing.from_env(settings.data_dir, True, environ={}),
                              range(8)))
        tokens = set(pool.map(lambda _: endpoint_token(settings), range(8)))
    assert all(ring == rings[0] for ring in rings)
    assert len(tokens) == 1 and len(tokens.pop()) >= 32
    for name in ("keys.json", "codec_token"):
        assert stat.S_IMODE((settings.data_dir / name).stat().st_mode) == 0o600, name
