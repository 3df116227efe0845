"""The original design, as a benchmark peer: the seed's ConnectionManager and
RedisConnectionManager (../../../shared/seed/connection-manager.rst) in FastAPI/uvicorn,
speaking the load generator's subset of our protocol. Run two instances against one
redis-server: a room broadcast goes through Redis Pub/Sub, so every instance delivers to its
own local connections — cross-instance fan-out exactly as the seed does it.

What it adds to the seed, only so the generator can verify it like the other peers: a per-room
`seq` and the publisher's `ack`. Both come from one Redis script (INCR + PUBLISH, atomic), so
every subscriber sees a room's messages in seq order. Nothing is stored (the seed has no
durable history); compare it with our worker's durable and `HISTORY_STORAGE=none` runs.

    AUTH_SECRET=test-secret uvicorn app:app --port 9001
"""

import asyncio
import json
import os
import secrets
import time
from collections import defaultdict

import jwt
import redis.asyncio as redis
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

SECRET = os.environ.get("AUTH_SECRET", "test-secret")
CHANNEL = "chat:messages"
# INCR the room's seq and PUBLISH in one atomic step: publish order = seq order.
PUBLISH_SCRIPT = """
local seq = redis.call('INCR', KEYS[1])
local frame = string.gsub(ARGV[1], '"seq":0}$', '"seq":' .. seq .. '}')
redis.call('PUBLISH', ARGV[2], frame)
return seq
"""


class ConnectionManager:
    """The seed's local manager: connections, rooms, users."""

    def __init__(self):
        self.active_connections: dict[str, WebSocket] = {}
        self.room_connections: dict[str, set[str]] = defaultdict(set)
        self.user_connection_ids: dict[str, set[str]] = defaultdict(set)
        self.connection_user_ids: dict[str, str] = {}

    async def connect(self, websocket: WebSocket, connection_id: str, user_id: str):
        await websocket.accept()
        self.active_connections[connection_id] = websocket
        self.user_connection_ids[user_id].add(connection_id)
        self.connection_user_ids[connection_id] = user_id

    def disconnect(self, connection_id: str):
        self.active_connections.pop(connection_id, None)
        user = self.connection_user_ids.pop(connection_id, None)
        if user is not None:
            self.user_connection_ids[user].discard(connection_id)
        for members in self.room_connections.values():
            members.discard(connection_id)

    def join_room(self, connection_id: str, room_id: str):
        self.room_connections[room_id].add(connection_id)

    async def send_personal_message(self, message: str, connection_id: str):
        ws = self.active_connections.get(connection_id)
        if ws is not None:
            await ws.send_text(message)

    async def broadcast_to_room(self, message: str, room_id: str, exclude: str | None = None):
        for cid in list(self.room_connections.get(room_id, ())):
            if cid != exclude:
                try:
                    await self.active_connections[cid].send_text(message)
                except Exception:
                    pass


class RedisConnectionManager:
    """The seed's multi-instance manager: room broadcasts go through Redis Pub/Sub."""

    def __init__(self, local_manager: ConnectionManager):
        self.local_manager = local_manager
        # A blocking pool: with redis-py 8 the default pool is bounded and raises
        # MaxConnectionsError ("Too many connections") when hundreds of sockets call Redis at
        # once; a production deployment waits for a free connection instead.
        pool = redis.BlockingConnectionPool.from_url(
            os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"), max_connections=64, timeout=None
        )
        self.redis = redis.Redis(connection_pool=pool)
        self.redis_pubsub_channel = CHANNEL
        self._pubsub_task = None
        self._publish = self.redis.register_script(PUBLISH_SCRIPT)

    async def start_pubsub_listener(self):
        self._pubsub_task = asyncio.create_task(self._listen_to_redis())

    async def _listen_to_redis(self):
        pubsub = self.redis.pubsub()
        await pubsub.subscribe(self.redis_pubsub_channel)
        async for item in pubsub.listen():
            if item["type"] != "message":
                continue
            frame = item["data"].decode()
            room = frame[frame.index('"room":"') + 8:]
            room = room[: room.index('"')]
            await self.local_manager.broadcast_to_room(frame, room)

    async def broadcast_to_room(self, frame: str, room_id: str) -> int:
        return await self._publish(keys=[f"room:{room_id}:seq"], args=[frame, self.redis_pubsub_channel])


manager = ConnectionManager()
redis_manager = RedisConnectionManager(manager)
app = FastAPI()


@app.on_event("startup")
async def startup():
    await redis_manager.start_pubsub_listener()


@app.websocket("/rooms/{room}/ws")
async def room_socket(websocket: WebSocket, room: str, token: str = ""):
    try:
        user = jwt.decode(token, SECRET, algorithms=["HS256"], options={"require": ["exp", "sub"]})["sub"]
    except jwt.PyJWTError:
        await websocket.close(code=1008)
        return
    cid = f"{room}.{secrets.token_hex(8)}"
    await manager.connect(websocket, cid, user)
    manager.join_room(cid, room)
    seq = int(await redis_manager.redis.get(f"room:{room}:seq") or 0)
    await websocket.send_text(json.dumps({
        "type": "welcome", "room": room, "connection_id": cid, "user_id": user, "members": [], "seq": seq,
    }))
    try:
        while True:
            text = await websocket.receive_text()
            if text == "ping":
                await websocket.send_text("pong")
                continue
            frame = json.loads(text)
            if frame.get("type") != "publish" or "data" not in frame:
                await websocket.send_text(json.dumps({"type": "error", "code": "bad_frame", "message": "publish only"}))
                continue
            message = json.dumps({
                "type": "message", "room": room, "from": {"user_id": user, "connection_id": cid},
                "data": frame["data"], "id": frame.get("id"), "ts": int(time.time() * 1000), "seq": 0,
            }, separators=(",", ":"))
            seq = await redis_manager.broadcast_to_room(message, room)
            await websocket.send_text(json.dumps({"type": "ack", "id": frame.get("id"), "seq": seq}))
    except WebSocketDisconnect:
        pass
    finally:
        manager.disconnect(cid)
