"""`python -m jaxmem`: the same as the `jaxmem` command."""

from jaxmem import command

command.run()
