"""Container health probe: exit 0 when every URL answers 200, else 1 with the reason on stderr.

The slim images carry no curl, so each Dockerfile's HEALTHCHECK and the compose health checks run
this module with the image's own Python (standard library only, so any service's image has it).
Run as ``python -m services.space.probe URL [URL ...]``.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from collections.abc import Sequence


def check(url: str, timeout: float = 3.0) -> str | None:
    """None when `url` answers 200 within `timeout` seconds, otherwise why not."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        return f"{url}: HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return f"{url}: {exc}"
    return None if status == 200 else f"{url}: HTTP {status}"


def main(argv: Sequence[str] | None = None) -> int:
    urls = list(sys.argv[1:] if argv is None else argv)
    if not urls:
        print("usage: python -m services.space.probe URL [URL ...]", file=sys.stderr)
        return 2
    failures = [reason for url in urls if (reason := check(url)) is not None]
    for reason in failures:
        print(f"unhealthy: {reason}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
