// Reference: the stock Node.js socket.io server on the same load (bench/run_all.py starts it).
//   node bench/node_server.js PORT TOKENS.json   (socket.io resolved via NODE_PATH)
// Same protocol surface as bench/serve.py: auth {token} -> room, `bench.broadcast` acked,
// `message.new` to every other socket of the room. No database, no validation.
"use strict";
const http = require("http");
const fs = require("fs");
const { Server } = require("socket.io");

const port = Number(process.argv[2]);
const tokens = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
const httpServer = http.createServer((req, res) => {
  if (req.url === "/readyz") { res.writeHead(200); res.end("ok"); return; }
});
const io = new Server(httpServer, { transports: ["websocket"], perMessageDeflate: false,
  pingInterval: 20000, pingTimeout: 20000 });
io.use((socket, next) => {
  const room = tokens[socket.handshake.auth && socket.handshake.auth.token];
  if (!room) { next(new Error("unauthorized")); return; }
  socket.data.room = room;
  next();
});
io.on("connection", (socket) => {
  socket.join(socket.data.room);
  socket.on("bench.broadcast", (payload, ack) => {
    socket.to(socket.data.room).emit("message.new",
      { room_id: payload.room_id, envelope: payload.envelope });
    if (typeof ack === "function") ack({ n: 1 });
  });
});
httpServer.listen(port, "127.0.0.1");
process.on("SIGINT", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));
