"""The page `dvc plots show` fills, with Vega inlined so the charts draw offline.

DVC's own page loads vega, vega-lite and vega-embed from a CDN: with no network every chart
is an empty box. DVC lets a project name its own page (`plots.html_template`); this one
carries the three libraries inside it, taken from the npm packages `npm ci` installs (pinned
in package-lock.json), so the written index.html is one self-contained file that can be
mailed, archived or opened on a closed network, wherever `-o` puts it.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.errors import MasksetError

# UMD builds, in load order: vega-lite and vega-embed find the ones before them as globals
SCRIPTS = (
    "vega/build/vega.min.js",
    "vega-lite/build/vega-lite.min.js",
    "vega-embed/build/vega-embed.min.js",
)
# what DVC replaces in a page (dvc_render.html.HTML.embed), by plain string replacement
PLACEHOLDERS = ("{plot_divs}", "{refresh_tag}", "{scripts}")


def page(scripts: dict[str, str]) -> str:
    """A DVC page template with `scripts` (name -> source) inlined, in the order given.

    DVC's CDN tags are left out on purpose: the page has no `{scripts}` placeholder."""
    tags = []
    for name, source in scripts.items():
        found = [token for token in PLACEHOLDERS if token in source]
        if found:  # DVC would replace it inside the library and break it
            raise MasksetError(f"{name} contains DVC's placeholder {found[0]}; it cannot be inlined")
        safe = source.replace("</script", "<\\/script")  # a literal one would end the tag early
        tags.append(f"<!-- {name} -->\n<script>{safe}</script>")
    body = "\n".join(tags)
    return f"""<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
{{refresh_tag}}
<title>maskset: DVC plots</title>
{body}
<style>
  body {{ font-family: sans-serif; }}
  table {{ border-spacing: 15px; }}
</style>
</head>
<body>
{{plot_divs}}
</body>
</html>
"""


def read_scripts(node_modules: Path) -> dict[str, str]:
    """The three libraries from an npm install, or an error that says how to get them."""
    missing = [name for name in SCRIPTS if not (node_modules / name).is_file()]
    if missing:
        raise MasksetError(
            f"{node_modules / missing[0]} is missing: run `npm ci` in the project folder "
            "(it installs vega, vega-lite and vega-embed from package-lock.json)"
        )
    return {name: (node_modules / name).read_text(encoding="utf-8") for name in SCRIPTS}
