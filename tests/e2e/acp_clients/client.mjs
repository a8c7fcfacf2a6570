// An ACP client on the official TypeScript SDK (@agentclientprotocol/sdk, 1.x or 2.x) driving `byok acp`.
//
//   node client.mjs <sdk dir> <workspace> <transcript file> <command> [args...]
//
// Runs one fixed scenario (see tests/e2e/test_acp_typescript.py) and prints a JSON report on stdout. Every
// byte exchanged with the agent is appended to the transcript file (for the key-leak scan). The 1.x SDK is
// driven through its ClientSideConnection, the 2.x SDK through its client() app: same wire.
import { spawn } from "node:child_process";
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Readable, Writable } from "node:stream";

const [sdkDir, root, transcript, command, ...args] = process.argv.slice(2);
const acp = await import(pathToFileURL(join(sdkDir, "node_modules/@agentclientprotocol/sdk/dist/" +
  (JSON.parse(readFileSync(join(sdkDir, "node_modules/@agentclientprotocol/sdk/package.json"))).version
    .startsWith("1.") ? "acp.js" : "v1/stable/acp.js"))).href);
const legacy = typeof acp.ClientSideConnection === "function";

const report = { sdk: legacy ? "ClientSideConnection" : "client()", updates: [], asks: [], writes: [],
  reads: [], terminals: [], results: {}, errors: {} };
const answers = ["allow_once", "allow_once", "reject"];
const buffers = new Map();
let onChunk = null;

const agent = spawn(command, args, { stdio: ["pipe", "pipe", "inherit"] });
const exited = new Promise((resolve) => agent.on("exit", (code) => resolve(code)));
const record = (direction, chunk) => appendFileSync(transcript, `${direction} ${Buffer.from(chunk)}`);
const output = new WritableStream({
  write(chunk) { record(">", chunk); return new Promise((ok) => agent.stdin.write(chunk, ok)); },
  close() { agent.stdin.end(); },
});
const input = Readable.toWeb(agent.stdout).pipeThrough(new TransformStream({
  transform(chunk, controller) { record("<", chunk); controller.enqueue(chunk); },
}));
const stream = acp.ndJsonStream(output, input);

// -- what the editor does ------------------------------------------------------------------------------
const terminals = new Map();
const handlers = {
  "session/update": (params) => {
    report.updates.push(params.update);
    if (params.update.sessionUpdate === "agent_message_chunk" && onChunk) { onChunk(); onChunk = null; }
  },
  "session/request_permission": (params) => {
    report.asks.push(params);
    const optionId = answers.shift();
    return optionId ? { outcome: { outcome: "selected", optionId } } : { outcome: { outcome: "cancelled" } };
  },
  "fs/read_text_file": (params) => {
    report.reads.push(params.path);
    return { content: buffers.get(params.path) ?? readFileSync(params.path, "utf8") };
  },
  "fs/write_text_file": (params) => {
    report.writes.push({ path: params.path, content: params.content });
    buffers.set(params.path, params.content);
    writeFileSync(params.path, params.content); // this editor saves at once, so commands see the edit
    return {};
  },
  "terminal/create": (params) => {
    const id = `term-${terminals.size + 1}`;
    const env = { ...process.env, ...Object.fromEntries((params.env ?? []).map((v) => [v.name, v.value])) };
    const child = spawn(params.command, params.args ?? [], { cwd: params.cwd ?? undefined, env });
    const term = { output: "", exit: null };
    term.done = new Promise((resolve) => child.on("exit", (code, signal) => {
      term.exit = { exitCode: code, signal: signal ?? null }; resolve(term.exit);
    }));
    child.stdout.on("data", (d) => { term.output += d; });
    child.stderr.on("data", (d) => { term.output += d; });
    term.child = child;
    terminals.set(id, term);
    report.terminals.push({ id, command: params.command, args: params.args, cwd: params.cwd });
    return { terminalId: id };
  },
  "terminal/output": (params) => {
    const term = terminals.get(params.terminalId);
    return { output: term.output, truncated: false, exitStatus: term.exit };
  },
  "terminal/wait_for_exit": async (params) => terminals.get(params.terminalId).done,
  "terminal/kill": (params) => { terminals.get(params.terminalId).child.kill(); return {}; },
  "terminal/release": (params) => { terminals.delete(params.terminalId); return {}; },
};

function connect() {
  if (legacy) {
    const names = {
      "session/update": "sessionUpdate", "session/request_permission": "requestPermission",
      "fs/read_text_file": "readTextFile", "fs/write_text_file": "writeTextFile",
      "terminal/create": "createTerminal", "terminal/output": "terminalOutput",
      "terminal/wait_for_exit": "waitForTerminalExit", "terminal/kill": "killTerminal",
      "terminal/release": "releaseTerminal",
    };
    const impl = Object.fromEntries(Object.entries(names).map(([m, n]) => [n, async (p) => handlers[m](p)]));
    const conn = new acp.ClientSideConnection(() => impl, stream);
    const call = {
      "initialize": "initialize", "session/new": "newSession", "session/load": "loadSession",
      "session/set_mode": "setSessionMode", "session/set_config_option": "setSessionConfigOption",
      "session/prompt": "prompt",
    };
    return {
      request: (method, params) => conn[call[method]](params),
      cancel: (params) => conn.cancel(params),
    };
  }
  let app = acp.client({ name: "byok-test" });
  for (const [method, handler] of Object.entries(handlers)) {
    app = method === "session/update"
      ? app.onNotification(method, async (ctx) => handler(ctx.params))
      : app.onRequest(method, async (ctx) => handler(ctx.params));
  }
  const connection = app.connect(stream);
  return {
    request: (method, params) => connection.agent.request(method, params),
    cancel: (params) => connection.agent.notify(acp.methods.agent.session.cancel, params),
  };
}

async function attempt(name, work) {
  try { report.results[name] = await work(); } catch (error) {
    report.errors[name] = { code: error.code, message: error.message, data: error.data };
  }
}

// -- the scenario ---------------------------------------------------------------------------------------
const conn = connect();
report.results.initialize = await conn.request("initialize", {
  protocolVersion: 1,
  clientCapabilities: { fs: { readTextFile: true, writeTextFile: true }, terminal: true },
  clientInfo: { name: "byok-test", version: "1" },
});
const session = await conn.request("session/new", { cwd: root, mcpServers: [] });
report.results.newSession = session;
const sessionId = session.sessionId;
await attempt("setMode", () => conn.request("session/set_mode", { sessionId, modeId: "edit" }));
await attempt("setModel", () => conn.request("session/set_config_option",
  { sessionId, configId: "model", value: "gpt-4o" }));
const text = (t) => [{ type: "text", text: t }];
await attempt("prompt1", () => conn.request("session/prompt", { sessionId, prompt: text("Title-case it") }));
report.marks = { afterPrompt1: report.updates.length };
await attempt("prompt2", () => conn.request("session/prompt", { sessionId, prompt: text("Add a constant") }));
const chunk = new Promise((resolve) => { onChunk = resolve; });
const running = conn.request("session/prompt", { sessionId, prompt: text("Write a lot") });
await chunk;
await conn.cancel({ sessionId });
await attempt("prompt3", () => running);
await attempt("badPrompt", () => conn.request("session/prompt", { sessionId: "nope", prompt: text("x") }));
await attempt("askMode", () => conn.request("session/set_config_option",
  { sessionId, configId: "mode", value: "ask" }));
report.marks.beforeLoad = report.updates.length;
await attempt("load", () => conn.request("session/load", { sessionId, cwd: root, mcpServers: [] }));
report.marks.afterLoad = report.updates.length;
agent.stdin.end();
report.exitCode = await exited;
process.stdout.write(JSON.stringify(report));
