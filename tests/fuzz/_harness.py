"""What the atheris fuzzers in this folder share: seeds, artifacts, running ASGI without a loop.

Run a fuzzer directly (``python tests/fuzz/fuzz_asgi_capture.py -max_total_time=20``)
or through ``tests/fuzz/test_fuzz.py``. Without a corpus directory on the
command line it starts from built-in seeds in a temporary directory; crash
inputs are written there too (``-artifact_prefix``), and re-running the script
with a crash file as its argument replays that one input.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable, Coroutine
from typing import Any

import atheris


def run_sync(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never suspends (our receive/send never wait) to completion.

    Far cheaper than an event loop per input; a coroutine that does suspend is
    handed to asyncio.
    """
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    import asyncio

    async def rest() -> Any:  # pragma: no cover - nothing in the harnesses suspends
        return await coro

    return asyncio.run(rest())


def check_json_lines(data: bytes, expected: int) -> None:
    """``data`` is ``expected`` newline-terminated JSON documents, all valid UTF-8."""
    text = data.decode("utf-8")  # strict: raises on anything that is not UTF-8
    lines = text.split("\n")
    if lines.pop() != "":
        raise AssertionError("the last line is not newline-terminated")
    if len(lines) != expected:
        raise AssertionError(f"{len(lines)} lines for {expected} events")
    for line in lines:
        json.loads(line)


def main(test_one_input: Callable[[bytes], None], seeds: list[bytes]) -> None:
    argv = list(sys.argv)
    work = tempfile.mkdtemp(prefix="inferwatch-fuzz-")
    if not any(not arg.startswith("-") for arg in argv[1:]):  # no corpus or input given
        corpus = os.path.join(work, "corpus")
        os.mkdir(corpus)
        for i, seed in enumerate(seeds):
            with open(os.path.join(corpus, f"seed-{i}"), "wb") as f:
                f.write(seed)
        argv.append(corpus)
    if not any(arg.startswith("-artifact_prefix=") for arg in argv):
        argv.append(f"-artifact_prefix={work}{os.sep}")
    print(f"fuzz work directory: {work}", flush=True)
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()
