"""leakcheck's PEP 517 / PEP 660 build backend: standard library only, kept in this tree.

Why in-tree: ``pip install ./python`` must work offline. pip installs a backend's
``requires`` into an isolated build environment, so setuptools, hatchling or flit
would have to be downloaded first; this backend needs nothing.

It builds one pure-Python wheel (``leakcheck/*.py`` plus its ``.dist-info``), an sdist
that can build that wheel again, and an editable wheel holding a ``.pth`` file that puts
this folder on ``sys.path``. Archives are reproducible: every entry gets the time in
``SOURCE_DATE_EPOCH`` (1980-01-01 when unset).
"""

import base64
import gzip
import hashlib
import io
import os
import re
import tarfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "leakcheck"
WHEEL_TAG = "py3-none-any"
#: What the sdist holds, relative to ROOT (folders are taken whole, bytecode left out).
SDIST_ENTRIES = ("pyproject.toml", "README.md", "_build", PACKAGE, "tests")
#: The earliest time a zip entry can carry.
ZIP_EPOCH = 315532800


def read_project(pyproject_text):
    """The ``[project]`` table: with tomllib (3.11+), else the subset this file uses."""
    try:
        import tomllib
    except ModuleNotFoundError:
        return parse_project_strings(pyproject_text)
    return tomllib.loads(pyproject_text)["project"]


_STRING_KEY = re.compile(r'^([A-Za-z0-9_-]+)\s*=\s*"([^"\\]*)"\s*(?:#.*)?$')


def parse_project_strings(pyproject_text):
    """The ``key = "string"`` lines of ``[project]``: enough TOML for 3.9 and 3.10,
    which lack tomllib, as long as the metadata read here stays plain strings."""
    project = {}
    in_project = False
    for line in pyproject_text.splitlines():
        line = line.strip()
        if line.startswith("["):
            in_project = line.split("#", 1)[0].strip() == "[project]"
        elif in_project:
            match = _STRING_KEY.match(line)
            if match:
                project[match.group(1)] = match.group(2)
    return project


def _metadata():
    """Name, version and the METADATA text (core metadata 2.1), from pyproject.toml."""
    with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as f:
        project = read_project(f.read())
    name, version = project["name"], project["version"]
    headers = [
        "Metadata-Version: 2.1",
        f"Name: {name}",
        f"Version: {version}",
        f"Summary: {project['description']}",
        f"Requires-Python: {project['requires-python']}",
    ]
    readme = project.get("readme")
    if readme is None:
        return name, version, "\n".join(headers) + "\n"
    with open(os.path.join(ROOT, readme), encoding="utf-8") as f:
        description = f.read()
    headers.append("Description-Content-Type: text/markdown")
    return name, version, "\n".join(headers) + "\n\n" + description


def _distribution(name, version):
    """``name-version`` as wheel and sdist file names spell it (name normalised)."""
    return f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}"


def _wheel_file():
    return f"Wheel-Version: 1.0\nGenerator: leakcheck_build\nRoot-Is-Purelib: true\nTag: {WHEEL_TAG}\n"


def _source_date():
    return max(int(os.environ.get("SOURCE_DATE_EPOCH", ZIP_EPOCH)), ZIP_EPOCH)


def _package_files():
    """(path in the wheel, contents) of every module of the package."""
    folder = os.path.join(ROOT, PACKAGE)
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            with open(os.path.join(folder, name), "rb") as f:
                yield f"{PACKAGE}/{name}", f.read()


def _record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}\n"


def _write_wheel(wheel_directory, files):
    """A wheel of ``files`` ((path, bytes) pairs) plus METADATA, WHEEL and RECORD."""
    name, version, metadata = _metadata()
    distribution = _distribution(name, version)
    dist_info = f"{distribution}.dist-info"
    files = list(files) + [
        (f"{dist_info}/METADATA", metadata.encode("utf-8")),
        (f"{dist_info}/WHEEL", _wheel_file().encode("utf-8")),
    ]
    record_path = f"{dist_info}/RECORD"
    record = "".join(_record_line(path, data) for path, data in files) + f"{record_path},,\n"
    files.append((record_path, record.encode("utf-8")))

    wheel_name = f"{distribution}-{WHEEL_TAG}.whl"
    date_time = time.gmtime(_source_date())[:6]
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel_name), "w", zipfile.ZIP_DEFLATED) as wheel:
        for path, data in files:
            entry = zipfile.ZipInfo(path, date_time)
            entry.external_attr = 0o100644 << 16  # a regular file, rw-r--r--
            entry.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(entry, data)
    return wheel_name


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    name, version, metadata = _metadata()
    dist_info = f"{_distribution(name, version)}.dist-info"
    os.makedirs(os.path.join(metadata_directory, dist_info), exist_ok=True)
    for filename, text in (("METADATA", metadata), ("WHEEL", _wheel_file())):
        with open(os.path.join(metadata_directory, dist_info, filename), "w", encoding="utf-8") as f:
            f.write(text)
    return dist_info


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _write_wheel(wheel_directory, _package_files())


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    """A wheel whose only module is a .pth line naming this folder: edits here take
    effect without reinstalling."""
    return _write_wheel(wheel_directory, [(f"{PACKAGE}_editable.pth", f"{ROOT}\n".encode("utf-8"))])


def build_sdist(sdist_directory, config_settings=None):
    name, version, metadata = _metadata()
    base = _distribution(name, version)
    mtime = _source_date()

    def add(tar, arcname, data):
        entry = tarfile.TarInfo(f"{base}/{arcname}")
        entry.size, entry.mtime, entry.mode = len(data), mtime, 0o644
        tar.addfile(entry, io.BytesIO(data))

    sdist_name = f"{base}.tar.gz"
    with open(os.path.join(sdist_directory, sdist_name), "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=mtime) as compressed:
            with tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as tar:
                add(tar, "PKG-INFO", metadata.encode("utf-8"))
                for path in _sdist_files():
                    with open(os.path.join(ROOT, path), "rb") as f:
                        add(tar, path.replace(os.sep, "/"), f.read())
    return sdist_name


def _sdist_files():
    """The files under SDIST_ENTRIES, sorted, without bytecode caches."""
    for entry in SDIST_ENTRIES:
        full = os.path.join(ROOT, entry)
        if os.path.isfile(full):
            yield entry
            continue
        for folder, subfolders, names in os.walk(full):
            subfolders[:] = sorted(d for d in subfolders if d != "__pycache__")
            for name in sorted(names):
                if not name.endswith(".pyc"):
                    yield os.path.relpath(os.path.join(folder, name), ROOT)
