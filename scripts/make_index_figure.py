"""Copy the gradient-flow figure of chapter 3 to book/figures/index_gradient_flow.png.

The book's front page shows the figure that chapter 3 draws (the cell whose title begins
"The same text, the same loss at the last step"). Taking it from the executed notebook's
committed output keeps the two identical; run this after re-executing chapter 3:

    python scripts/make_index_figure.py
"""

import base64
from pathlib import Path

import nbformat

BOOK = Path(__file__).resolve().parent.parent / "book"
CHAPTER = BOOK / "03_why_rnns_forget.ipynb"
MARKER = 'fig.suptitle("The same text, the same loss at the last step'
TARGET = BOOK / "figures" / "index_gradient_flow.png"


def main() -> None:
    nb = nbformat.read(CHAPTER, as_version=4)
    cells = [cell for cell in nb.cells if cell.cell_type == "code" and MARKER in cell.source]
    if len(cells) != 1:
        raise SystemExit(f"expected one cell of {CHAPTER.name} to draw the figure, found {len(cells)}")
    images = [out.data["image/png"] for out in cells[0].outputs if "image/png" in out.get("data", {})]
    if len(images) != 1:
        raise SystemExit(f"expected one PNG output in that cell, found {len(images)}; run chapter 3")
    TARGET.write_bytes(base64.b64decode(images[0]))
    print(f"wrote {TARGET.relative_to(BOOK.parent)}")


if __name__ == "__main__":
    main()
