"""The ceiling for bench_http.py: one Litestar JSON endpoint, served the way `incidentcore serve` serves.

    python bench/bare_litestar_app.py --port 8001

It answers `GET /bare` with a small JSON object, with no database and no authentication: what the
HTTP stack alone costs. The uvicorn options are those of entrypoints/serve.py's `run_serve`; keep
them in step, or the ratio to this endpoint stops meaning anything.
"""

from __future__ import annotations

import argparse

import uvicorn
from litestar import Litestar, get


@get("/bare", sync_to_thread=False)
def bare() -> dict[str, object]:
    return {"id": 1, "status": "triggered", "title": "bare endpoint"}


app = Litestar([bare])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    uvicorn.run(
        "bare_litestar_app:app",  # an import string, as `serve` passes: needed for --workers > 1
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="info",  # the access log is on, as under `serve` with the default LOG_LEVEL
        server_header=False,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
    )


if __name__ == "__main__":
    main()
