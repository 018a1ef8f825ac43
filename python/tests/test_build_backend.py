"""The in-tree build backend: its archives follow the wheel and sdist specs, and pip
installs this folder offline with it."""

import ast
import base64
import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile

import pytest

from conftest import PYTHON_DIR
WHEEL = "leakcheck-0.1.0-py3-none-any.whl"
DIST_INFO = "leakcheck-0.1.0.dist-info"
MODULES = [
    "leakcheck/__init__.py",
    "leakcheck/_attribution.py",
    "leakcheck/_probe.py",
    "leakcheck/bench.py",
    "leakcheck/bench_attribution.py",
]


def call_backend(source_dir, hook, *args):
    """Runs a backend hook the way a frontend does: a fresh interpreter, cwd the source tree."""
    code = (
        "import json, sys; sys.path.insert(0, '_build'); import leakcheck_build; "
        f"print(json.dumps(leakcheck_build.{hook}(*json.loads(sys.argv[1]))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)],
        cwd=source_dir, capture_output=True, text=True, check=True,
    ).stdout
    return json.loads(out)


def headers(text):
    """The ``Key: value`` headers of METADATA or WHEEL (before the blank line)."""
    return dict(line.split(": ", 1) for line in text.split("\n\n", 1)[0].splitlines())


def check_record(wheel):
    """Every file is in RECORD with its sha256 and size, and RECORD lists nothing else."""
    record = wheel.read(f"{DIST_INFO}/RECORD").decode()
    rows = list(csv.reader(io.StringIO(record)))
    assert rows[-1] == [f"{DIST_INFO}/RECORD", "", ""]
    listed = {path: (digest, size) for path, digest, size in rows[:-1]}
    assert set(listed) | {f"{DIST_INFO}/RECORD"} == set(wheel.namelist())
    for path, (digest, size) in listed.items():
        data = wheel.read(path)
        expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        assert digest == f"sha256={expected}", path
        assert int(size) == len(data), path


def test_build_wheel_makes_a_valid_wheel(tmp_path):
    assert call_backend(PYTHON_DIR, "build_wheel", str(tmp_path)) == WHEEL
    with zipfile.ZipFile(tmp_path / WHEEL) as wheel:
        assert wheel.testzip() is None
        dist_info = [f"{DIST_INFO}/{name}" for name in ("METADATA", "WHEEL", "RECORD")]
        assert wheel.namelist() == MODULES + dist_info
        check_record(wheel)
        metadata = headers(wheel.read(f"{DIST_INFO}/METADATA").decode())
        assert metadata["Metadata-Version"] == "2.1"
        assert metadata["Name"] == "leakcheck"
        assert metadata["Version"] == "0.1.0"
        assert metadata["Requires-Python"] == ">=3.9"
        assert metadata["Summary"]
        assert headers(wheel.read(f"{DIST_INFO}/WHEEL").decode()) == {
            "Wheel-Version": "1.0",
            "Generator": "leakcheck_build",
            "Root-Is-Purelib": "true",
            "Tag": "py3-none-any",
        }
        for module in MODULES:
            with open(os.path.join(PYTHON_DIR, module), "rb") as f:
                assert wheel.read(module) == f.read()


def test_the_backend_needs_nothing_to_build():
    for target in ("wheel", "sdist", "editable"):
        assert call_backend(PYTHON_DIR, f"get_requires_for_build_{target}") == []


def test_prepare_metadata_matches_the_wheels_metadata(tmp_path):
    wheel_dir, metadata_dir = tmp_path / "wheel", tmp_path / "metadata"
    wheel_dir.mkdir()
    metadata_dir.mkdir()
    assert call_backend(PYTHON_DIR, "prepare_metadata_for_build_wheel", str(metadata_dir)) == DIST_INFO
    call_backend(PYTHON_DIR, "build_wheel", str(wheel_dir))
    with zipfile.ZipFile(wheel_dir / WHEEL) as wheel:
        for name in ("METADATA", "WHEEL"):
            assert (metadata_dir / DIST_INFO / name).read_bytes() == wheel.read(f"{DIST_INFO}/{name}")


def test_the_sdist_builds_the_same_wheel_again(tmp_path):
    sdist = call_backend(PYTHON_DIR, "build_sdist", str(tmp_path))
    assert sdist == "leakcheck-0.1.0.tar.gz"
    with tarfile.open(tmp_path / sdist) as tar:
        names = tar.getnames()
        assert all(name.startswith("leakcheck-0.1.0/") for name in names)
        assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
        for needed in ("PKG-INFO", "pyproject.toml", "README.md", "_build/leakcheck_build.py", *MODULES):
            assert f"leakcheck-0.1.0/{needed}" in names
        tar.extractall(tmp_path / "unpacked")
    unpacked = tmp_path / "unpacked" / "leakcheck-0.1.0"
    (tmp_path / "from_tree").mkdir()
    (tmp_path / "from_sdist").mkdir()
    call_backend(PYTHON_DIR, "build_wheel", str(tmp_path / "from_tree"))
    call_backend(str(unpacked), "build_wheel", str(tmp_path / "from_sdist"))
    assert (tmp_path / "from_sdist" / WHEEL).read_bytes() == (tmp_path / "from_tree" / WHEEL).read_bytes()
    with zipfile.ZipFile(tmp_path / "from_tree" / WHEEL) as wheel:
        assert (unpacked / "PKG-INFO").read_bytes() == wheel.read(f"{DIST_INFO}/METADATA")


def test_the_editable_wheel_points_at_this_folder(tmp_path):
    assert call_backend(PYTHON_DIR, "build_editable", str(tmp_path)) == WHEEL
    with zipfile.ZipFile(tmp_path / WHEEL) as wheel:
        check_record(wheel)
        assert wheel.read("leakcheck_editable.pth").decode() == PYTHON_DIR + "\n"
        assert not [name for name in wheel.namelist() if name.startswith("leakcheck/")]


def test_the_fallback_parser_reads_what_tomllib_reads():
    sys.path.insert(0, os.path.join(PYTHON_DIR, "_build"))
    try:
        import leakcheck_build
    finally:
        sys.path.pop(0)
    with open(os.path.join(PYTHON_DIR, "pyproject.toml"), encoding="utf-8") as f:
        text = f.read()
    fallback = leakcheck_build.parse_project_strings(text)
    assert fallback == {
        "name": "leakcheck",
        "version": "0.1.0",
        "description": fallback["description"],
        "readme": "README.md",
        "requires-python": ">=3.9",
    }
    if sys.version_info >= (3, 11):
        assert leakcheck_build.read_project(text) == fallback
    other_tables = '[project]\nname = "a"  # comment\n[tool.x]\nname = "b"\n[project.urls]\nversion = "c"\n'
    assert leakcheck_build.parse_project_strings(other_tables) == {"name": "a"}


def test_the_code_parses_as_python_3_9():
    """The package promises Python >= 3.9: no syntax from later versions."""
    for folder in ("leakcheck", "_build"):
        for name in os.listdir(os.path.join(PYTHON_DIR, folder)):
            if name.endswith(".py"):
                with open(os.path.join(PYTHON_DIR, folder, name), encoding="utf-8") as f:
                    ast.parse(f.read(), filename=name, feature_version=(3, 9))


@pytest.mark.slow
def test_pip_installs_this_folder_offline_into_a_fresh_venv(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    offline = dict(os.environ, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    del offline["PYTHONPATH"]  # set by conftest: it would shadow the installed copy

    def installed():
        """leakcheck's version and location as the venv imports it (away from any source tree)."""
        show = "import leakcheck; print(leakcheck.__version__, leakcheck.__file__)"
        return subprocess.run(
            [python, "-c", show], cwd=tmp_path, env=offline, check=True, capture_output=True, text=True
        ).stdout.split()

    subprocess.run([python, "-m", "pip", "install", "--no-index", PYTHON_DIR], env=offline, check=True)
    version, location = installed()
    assert version == "0.1.0"
    assert location.startswith(str(venv))

    subprocess.run([python, "-m", "pip", "install", "--no-index", "-e", PYTHON_DIR], env=offline, check=True)
    assert installed() == ["0.1.0", os.path.join(PYTHON_DIR, "leakcheck", "__init__.py")]
