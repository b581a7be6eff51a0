"""Socket.IO realtime layer: `/live-stream-status`, `/live-stream` and `/stream-chat` (docs/realtime.md).

An adapter like the routers: it listens to the domain event hub (`app.core.events`) and calls the same
services as the REST endpoints; no domain imports it.
"""
