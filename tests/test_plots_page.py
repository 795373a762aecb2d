"""The offline page for `dvc plots show`: Vega inlined, DVC's placeholders kept."""

import pytest
from dvc_render.html import HTML

from pipeline.errors import MasksetError
from pipeline.plots_page import SCRIPTS, page, read_scripts
from tests.conftest import ROOT
from tests.project import sh


def test_the_page_inlines_each_library_in_order_and_dvc_fills_it():
    html = page({"vega.js": "window.a = 1;", "embed.js": "var s = '</script>'; window.b = 2;"})
    assert html.index("window.a = 1") < html.index("window.b = 2")
    assert "'<\\/script>'" in html and "cdn" not in html.lower()
    filled = HTML(html).with_element('<div id="chart"></div>').embed()  # what DVC itself does
    assert '<div id="chart"></div>' in filled
    assert "{plot_divs}" not in filled and "{refresh_tag}" not in filled


def test_a_library_holding_a_dvc_placeholder_is_refused():
    with pytest.raises(MasksetError, match=r"lib.js contains DVC's placeholder \{plot_divs\}"):
        page({"lib.js": "x = '{plot_divs}'"})


def test_without_npm_ci_the_error_says_to_run_it(tmp_path):
    with pytest.raises(MasksetError, match=r"vega\.min\.js is missing: run `npm ci`"):
        read_scripts(tmp_path / "node_modules")


def test_the_command_writes_the_page_and_names_it_in_dvc_local_config(tmp_path):
    assert (ROOT / "node_modules" / SCRIPTS[0]).is_file(), "run `npm ci` (the README's setup) first"
    (tmp_path / "node_modules").symlink_to(ROOT / "node_modules")
    sh(tmp_path, "dvc", "init", "--no-scm", "-q")
    out = sh(tmp_path, "maskset", "plots-page").stdout
    assert "Vega inlined" in out
    written = (tmp_path / ".dvc" / "plots.html").read_text()
    assert all(read_scripts(ROOT / "node_modules")[name][:200] in written for name in SCRIPTS)
    configured = sh(tmp_path, "dvc", "config", "--local", "plots.html_template").stdout.strip()
    assert configured == "plots.html"
    assert sh(tmp_path, "dvc", "config", "--project", "plots.html_template", check=False).returncode != 0


def test_outside_a_dvc_project_the_command_says_so(tmp_path):
    (tmp_path / "node_modules").symlink_to(ROOT / "node_modules")
    result = sh(tmp_path, "maskset", "plots-page", check=False)
    assert result.returncode == 2 and "not a DVC project" in result.stderr
    assert not (tmp_path / ".dvc").exists()
