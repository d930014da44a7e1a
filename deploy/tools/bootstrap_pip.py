"""Installs pip into a venv created with --without-pip, from PyPI alone.

Debian ships `ensurepip` in the separate python3-venv package; without it `python3 -m venv`
cannot install pip. This fetches pip's wheel from PyPI (checking the sha256 PyPI publishes) and
runs pip from the wheel to install itself. Usage: VENV/bin/python bootstrap_pip.py
"""

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request


def main():
    index = "https://pypi.org/pypi/pip/json"
    with urllib.request.urlopen(index, timeout=60) as r:
        meta = json.load(r)
    wheel = next(u for u in meta["urls"] if u["packagetype"] == "bdist_wheel")
    # Mirrors may answer with URLs relative to the JSON document.
    with urllib.request.urlopen(urllib.parse.urljoin(index, wheel["url"]), timeout=120) as r:
        data = r.read()
    if hashlib.sha256(data).hexdigest() != wheel["digests"]["sha256"]:
        sys.exit(f"bootstrap_pip: sha256 mismatch for {wheel['filename']}")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, wheel["filename"])
        with open(path, "wb") as f:
            f.write(data)
        # A pip wheel is importable as a zip: run pip from it to install that same wheel.
        subprocess.run([sys.executable, f"{path}/pip", "install", "--quiet", "--no-index",
                        "--disable-pip-version-check", path], check=True)


if __name__ == "__main__":
    main()
