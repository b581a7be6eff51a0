"""Which browser origins may call the API (`CORS_ALLOW_ORIGINS`), as a policy REST and Socket.IO share.

- `CORS_ALLOW_ORIGINS` set: a comma-separated list (or JSON list) of exact origins
  (`https://app.example.com`); `*` allows any origin; an empty value allows none.
- unset in development and test: any `http://localhost:<port>` / `http://127.0.0.1:<port>` /
  `http://[::1]:<port>` origin (a Vite or React dev server);
- unset in production: none (an explicit list is required to serve browser apps on other origins).

The middleware and the Socket.IO check that apply it are `app.core.cors`'s.
"""

import json
import re
from dataclasses import dataclass

LOCAL_DEV_ORIGINS = r"http://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]{1,5})?"


@dataclass(frozen=True, slots=True)
class CorsPolicy:
    origins: tuple[str, ...] = ()
    origin_regex: str | None = None
    any_origin: bool = False

    @property
    def enabled(self) -> bool:
        return self.any_origin or bool(self.origins) or self.origin_regex is not None

    def allows(self, origin: str | None) -> bool:
        if not origin:
            return False
        if self.any_origin or origin in self.origins:
            return True
        return self.origin_regex is not None and re.fullmatch(self.origin_regex, origin) is not None

    @classmethod
    def from_setting(cls, raw: str | None, *, production: bool) -> "CorsPolicy":
        """`CORS_ALLOW_ORIGINS` as read from the environment (`None` when unset)."""
        if raw is None:
            return cls() if production else cls(origin_regex=LOCAL_DEV_ORIGINS)
        origins = parse_origins(raw)
        if "*" in origins:
            return cls(any_origin=True)
        return cls(origins=tuple(origins))


def parse_origins(raw: str) -> list[str]:
    """A JSON list or a comma-separated list of origins; each `scheme://host[:port]`, or `*`."""
    text = raw.strip()
    if text.startswith("["):
        values = json.loads(text)
        if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
            raise ValueError("CORS_ALLOW_ORIGINS must be a JSON list of origins or a comma-separated list")
    else:
        values = text.split(",")
    origins = [value.strip().rstrip("/") for value in values if value.strip()]
    for origin in origins:
        if origin != "*" and not re.fullmatch(r"https?://[^/\s?#]+", origin):
            raise ValueError(
                f"CORS_ALLOW_ORIGINS: {origin!r} is not an origin (scheme://host[:port], no path) or *"
            )
    return origins
