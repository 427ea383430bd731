"""Sphinx (with MyST) builds docs/ as a site: the guides behind the README.

  python -m sphinx -W --keep-going -b html docs docs/_build   # what the tests run

Warnings are errors: a broken link, a missing page or a page no table of
contents reaches fails the build (tests/test_docs.py).
"""

project = "jaxmem"
author = "the jaxmem developers"
extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "results/index"]
myst_heading_anchors = 4  # Links to a section: page.md#its-title.
html_theme = "alabaster"
html_title = "jaxmem"
