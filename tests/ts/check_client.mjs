// Drives a Millimetric MCP endpoint with the official TypeScript SDK client (StreamableHTTPClientTransport,
// initialize handshake, as Claude Code, Claude Desktop and the MCP Inspector do) and prints a JSON summary.
//
//   node check_client.mjs <url> <key> '<json: {"calls": {"tool": {args}, ...}}>'
//
// Every step is recorded, errors included; the pytest side (tests/integration/test_mcp_ts_client.py)
// decides what is right. Exits 1 only when the client cannot run at all.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, key, planJson] = process.argv.slice(2);
const plan = JSON.parse(planJson ?? "{}");

function describeError(err) {
  return { code: err?.code ?? null, message: String(err?.message ?? err), data: err?.data ?? null };
}

async function attempt(fn) {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    return { ok: false, error: describeError(err) };
  }
}

const summary = { errors: [] };
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${key}` } },
});
const client = new Client({ name: "millimetric-ts-check", version: "1.0.0" });
client.onerror = (err) => summary.errors.push(String(err?.message ?? err)); // transport errors, e.g. a refused GET

try {
  await client.connect(transport);
} catch (err) {
  summary.connect = { ok: false, error: describeError(err) };
  console.log(JSON.stringify(summary));
  process.exit(0);
}
summary.connect = { ok: true };
summary.protocolVersion = transport.protocolVersion ?? null;
summary.server = client.getServerVersion() ?? null;
summary.capabilities = client.getServerCapabilities() ?? null;
summary.instructions = client.getInstructions() ?? null;

const listed = await attempt(() => client.listTools());
summary.tools = listed.ok ? listed.value.tools : listed;

summary.calls = {};
for (const [name, args] of Object.entries(plan.calls ?? {})) {
  // callTool validates structuredContent against the tool's outputSchema (AJV) before returning
  const called = await attempt(() => client.callTool({ name, arguments: args }));
  summary.calls[name] = called.ok
    ? { ok: true, isError: called.value.isError ?? false, content: called.value.content, structuredContent: called.value.structuredContent ?? null }
    : called;
}
summary.unknownTool = await attempt(() => client.callTool({ name: "no_such_tool", arguments: {} }));

const resources = await attempt(() => client.listResources());
summary.resources = resources.ok ? resources.value.resources.map((r) => r.uri) : resources;
summary.reads = {};
for (const uri of resources.ok ? summary.resources : []) {
  const read = await attempt(() => client.readResource({ uri }));
  summary.reads[uri] = read.ok ? read.value.contents : read;
}
summary.unknownResource = await attempt(() => client.readResource({ uri: "events://nope" }));

const prompts = await attempt(() => client.listPrompts());
summary.prompts = {};
for (const prompt of prompts.ok ? prompts.value.prompts : []) {
  const args = Object.fromEntries((prompt.arguments ?? []).filter((a) => a.required).map((a) => [a.name, "2026-05-10"]));
  const got = await attempt(() => client.getPrompt({ name: prompt.name, arguments: args }));
  summary.prompts[prompt.name] = got.ok ? { ok: true, messages: got.value.messages.length } : got;
}
summary.ping = await attempt(() => client.ping());

await client.close();
console.log(JSON.stringify(summary));
