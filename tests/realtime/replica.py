"""One API replica for the two-process Redis test: the real app plus two test-only routes that copy
raw documents between replicas (each embedded engine is private to its process).

Run: python -m tests.realtime.replica PORT  (settings from the environment, REDIS_URL included)
"""

import sys
from typing import Any

import uvicorn
from bson import json_util
from fastapi import Request
from fastapi.responses import Response

from app.core.config import Settings
from app.main import create_app


def build() -> Any:
    app = create_app(Settings(_env_file=None))

    @app.get("/_test/docs/{collection}", include_in_schema=False)
    async def dump(collection: str, request: Request) -> Response:
        docs = await request.app.state.db[collection].find({}).to_list()
        return Response(json_util.dumps(docs), media_type="application/json")

    @app.post("/_test/docs/{collection}", include_in_schema=False)
    async def load(collection: str, request: Request) -> Response:
        docs = json_util.loads(await request.body())
        for doc in docs:
            await request.app.state.db[collection].replace_one({"_id": doc["_id"]}, doc, upsert=True)
        return Response(status_code=204)

    return app


if __name__ == "__main__":
    uvicorn.run(build(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", ws="websockets-sansio")
