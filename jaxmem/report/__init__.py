"""Reports: Markdown and PNG figures of finished workdirs (`jaxmem report`)."""

from jaxmem.report.markdown import load
from jaxmem.report.markdown import write
