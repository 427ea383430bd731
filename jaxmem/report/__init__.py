"""Reports: Markdown and PNG figures of finished workdirs (`jaxmem report`).

A file here draws one part of a report: `markdown` writes report.md from a
run's results (jaxmem.results), its difficulty table (jaxmem.analysis) and
the PNGs that `figures` draws. A new section is a function in `markdown`, a
new figure a function in `figures` that draws into the report's folder and
returns the file's name.
"""

from jaxmem.report.markdown import write
