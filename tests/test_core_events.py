"""The in-process event hub: a listener's bug is logged and never reaches the code that emitted."""

from app.core.events import EventHub


def test_a_failing_listener_is_logged_and_the_others_still_run() -> None:
    hub = EventHub()
    got = []

    def broken(_: object) -> None:
        raise RuntimeError("listener bug")

    hub.subscribe("thing.happened", broken)
    hub.subscribe("thing.happened", got.append)
    hub.emit("thing.happened", {"id": 1})  # must not raise (logging it used to raise a TypeError)
    assert got == [{"id": 1}]
