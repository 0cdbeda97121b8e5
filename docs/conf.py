"""Sphinx configuration for nclab's API reference (``make docs``; warnings are errors)."""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "src")))

project = "nclab"
author = "nclab authors"
copyright = "nclab authors, MIT licence"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "myst_parser"]
napoleon_google_docstring = False
napoleon_numpy_docstring = True
# "Attributes" sections as :ivar: fields: autodoc documents the properties themselves, and a second
# object description of the same name would be a duplicate (a warning, so an error here)
napoleon_use_ivar = True
autodoc_member_order = "bysource"
autodoc_typehints = "none"
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
# docs/*.md are Markdown (MyST): $...$ and $$...$$ math, heading anchors for "docs/math.md §2.3" links
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3
root_doc = "index"
exclude_patterns = ["_build"]
html_theme = "alabaster"


def _plain_bars(app, what, name, obj, options, lines):
    """Docstrings write |x| for an absolute value; reST would read it as a substitution."""
    for i, line in enumerate(lines):
        if "|" in line and not line.lstrip().startswith(("+", "|")):
            lines[i] = line.replace("|", r"\|")


def setup(app):
    app.connect("autodoc-process-docstring", _plain_bars)
