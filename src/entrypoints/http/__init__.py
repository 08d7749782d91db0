"""The HTTP entrypoint: Litestar app, controllers, wire Structs, guards, problem details."""

from entrypoints.http.app import app_from_environment, create_app

__all__ = ["app_from_environment", "create_app"]
