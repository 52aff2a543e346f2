"""Top functions of a py-spy `--format raw` profile (collapsed stacks), inclusive and self.

.venv/bin/python -m bench.profile bench/results/profile-300-0-create.txt [--top 25] [--match cocoon_operator]
"""

from __future__ import annotations

import argparse
import gzip
import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^:()]+)(?::(?P<line>\d+))?\)$")


def short(frame: str) -> str:
    """`func (path/to/site-packages/pkg/mod.py:12)` -> `pkg/mod.py:func`."""
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m.group("file")
    for marker in ("site-packages/", "/operator/", "/devstack/", "/lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{m.group('func')}"


def summarize(path: Path, top: int, match: str | None) -> str:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    idle = 0
    text = gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [short(f) for f in stack.split(";")]
        total += count
        if frames and ("select" in frames[-1] or "epoll" in frames[-1] or frames[-1].endswith(":poll")):
            idle += count
        for f in set(frames):
            inclusive[f] += count
        own[frames[-1]] += count
    out = [f"{path.name}: {total} samples ({idle} idle in the event loop's select)", "", "inclusive:"]
    for f, c in inclusive.most_common():
        if match and match not in f:
            continue
        out.append(f"  {100 * c / max(total, 1):5.1f}%  {f}")
        if len(out) > top + 3:
            break
    out += ["", "self:"]
    for f, c in own.most_common(top):
        out.append(f"  {100 * c / max(total, 1):5.1f}%  {f}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", default=None, help="only inclusive entries containing this text")
    args = parser.parse_args(argv)
    for file in args.files:
        print(summarize(file, args.top, args.match))
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
