// The official JavaScript client (socket.io-client 4.x) against the API: connect with auth.token,
// join a stream on /live-stream and /stream-chat, print every viewerCount and chatMessage as JSON lines.
// usage: node client.mjs URL TOKEN STREAM_ID   (prints "joined" once both joins are acknowledged)
import { io } from "socket.io-client";

const [url, token, streamId] = process.argv.slice(2);
const live = io(`${url}/live-stream`, { auth: { token }, transports: ["websocket"] });
const chat = io(`${url}/stream-chat`, { auth: { token }, transports: ["websocket"] });
const print = (event) => (payload) => console.log(JSON.stringify({ event, payload }));
live.on("viewerCount", print("viewerCount"));
chat.on("chatMessage", print("chatMessage"));
for (const socket of [live, chat]) socket.on("connect_error", (err) => { console.error(err.message); process.exit(2); });

const join = (socket) => socket.timeout(5000).emitWithAck("joinStream", { streamId });
const [a, b] = await Promise.all([join(live), join(chat)]);
if (!a.ok || !b.ok) { console.error(JSON.stringify([a, b])); process.exit(3); }
console.log("joined");
setTimeout(() => process.exit(0), 8000);
