"""The ``medvalue`` command: a thin caller of the package's functions (the top layer)."""

import os

# polars allocates through jemalloc, which by default keeps freed memory for about ten
# seconds and purges it only when the process allocates again, so one step's memory was
# still held while the next step peaked (a 10M-row refine: 2.38 GB peak; 2.23 GB with this,
# in the same time). A background thread returning freed pages after half a second is the
# setting jemalloc's authors suggest; it must be set before polars loads, and a user's own
# setting wins. Set for the command only, not when medvalue is imported as a library.
os.environ.setdefault(
    "_RJEM_MALLOC_CONF", "background_thread:true,dirty_decay_ms:500,muzzy_decay_ms:0"
)

from medvalue.cli._commands import cli, main

__all__ = ["cli", "main"]
