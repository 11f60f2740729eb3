"""A self-contained HTML report: headings, text, tables, pictures and audio players that refer to files next to
it. Once the page has loaded, a small script writes into the body's data attributes how many pictures decoded and
how many audio players read their file, so a headless browser can check the report (tests/cli/test_demo.py)."""

from __future__ import annotations

import html
from pathlib import Path

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 980px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #ccc; padding: 4px 10px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } th { background: #f4f4f4; }
figure { display: inline-block; margin: 0.5em 1em 0.5em 0; vertical-align: top; max-width: 100%; }
figure img { image-rendering: pixelated; border: 1px solid #ccc; max-width: 100%; height: auto; }
figcaption { font-size: 0.9em; color: #555; max-width: 420px; }
pre { background: #f7f7f7; padding: 1em; white-space: pre-wrap; }
code { background: #f4f4f4; padding: 0 3px; overflow-wrap: anywhere; } .note { color: #a60; }
pre.commands { padding: 0.5em 1em; white-space: pre-wrap; overflow-wrap: anywhere; }
"""

CHECK = """
window.addEventListener("load", () => {
  const images = [...document.images];
  document.body.dataset.images = images.length;
  document.body.dataset.imagesDecoded = images.filter((i) => i.complete && i.naturalWidth > 0).length;
  const players = [...document.querySelectorAll("audio")];
  document.body.dataset.audio = players.length;
  let ready = 0;
  document.body.dataset.audioReady = 0;
  // pixels the page is wider than the window (a horizontal scroll bar when > 0)
  const root = document.documentElement;
  document.body.dataset.overflow = Math.max(0, root.scrollWidth - root.clientWidth);
  for (const player of players) {
    const count = () => { document.body.dataset.audioReady = ++ready; };
    if (player.readyState >= 1) count(); else player.addEventListener("loadedmetadata", count, { once: true });
  }
});
"""


class Report:
    """Collects sections in order; `write` saves them as one HTML page."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.parts: list[str] = []

    def heading(self, text: str) -> None:
        self.parts.append(f"<h2>{html.escape(text)}</h2>")

    def paragraph(self, text: str, note: bool = False) -> None:
        css = ' class="note"' if note else ""
        self.parts.append(f"<p{css}>{html.escape(text)}</p>")

    def code(self, text: str) -> None:
        """A command, or several (one per line of `text`), each shown on its own line."""
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) == 1:
            self.parts.append(f"<p><code>{html.escape(lines[0])}</code></p>")
        else:
            self.parts.append(f'<pre class="commands"><code>{html.escape(chr(10).join(lines))}</code></pre>')

    def text_block(self, text: str) -> None:
        self.parts.append(f"<pre>{html.escape(text)}</pre>")

    def image(self, src: str, caption: str, width: int | None = None) -> None:
        size = f' width="{width}"' if width else ""
        self.parts.append(
            f'<figure><img src="{html.escape(src)}" alt="{html.escape(caption)}"{size}>'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    def audio(self, src: str, caption: str) -> None:
        self.parts.append(
            f'<figure><audio controls preload="metadata" src="{html.escape(src)}"></audio>'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    def table(self, header: list[str], rows: list[list[object]]) -> None:
        def cell(value: object) -> str:
            if isinstance(value, float):
                return f'<td class="num">{value:.4f}</td>'
            if isinstance(value, int):
                return f'<td class="num">{value:,}</td>'
            return f"<td>{html.escape(str(value))}</td>"

        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
        self.parts.append(f"<table><tr>{head}</tr>{body}</table>")

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        page = (
            f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(self.title)}</title>'
            f"<style>{STYLE}</style><script>{CHECK}</script></head>\n<body><h1>{html.escape(self.title)}</h1>\n"
            + "\n".join(self.parts)
            + "\n</body></html>\n"
        )
        path.write_text(page, encoding="utf-8")
        return path
