"""`python -m cocoon_operator.conditions [--write]`: print (or write) docs/conditions.md."""

import sys
from pathlib import Path

from cocoon_operator.conditions.docs import render_markdown

if __name__ == "__main__":
    text = render_markdown()
    if "--write" in sys.argv[1:]:
        target = Path(__file__).resolve().parents[3] / "docs" / "conditions.md"
        target.write_text(text)
        print(f"wrote {target}")
    else:
        sys.stdout.write(text)
