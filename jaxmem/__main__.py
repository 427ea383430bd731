"""`python -m jaxmem`: the same as the `jaxmem` commands."""

from jaxmem import commands

commands.run()
