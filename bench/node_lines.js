// The line protocol between a Python bench and its Node helper (bench/node_loadgen.js,
// bench/node_storm.js): one JSON object a line, requests on stdin, answers on stdout.
"use strict";
const readline = require("readline");

const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();

/** The next request; the process ends when the parent closes the pipe. */
async function receive() {
  const { value, done } = await lines.next();
  if (done) process.exit(0);
  return JSON.parse(value);
}

/** One answer. A pipe is written asynchronously: exiting before `then` cuts a long line short. */
function say(obj, then) {
  process.stdout.write(JSON.stringify(obj) + "\n", then);
}

module.exports = { receive, say };
