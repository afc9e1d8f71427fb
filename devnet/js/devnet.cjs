// Starts the devnet binary (target/{debug,release}/spindle-devnet or $DEVNET_BIN)
// on a free port and returns its URLs and a stop function.
const { spawn } = require('node:child_process');
const { existsSync, statSync } = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '../..');

function devnetBin() {
  if (process.env.DEVNET_BIN) return process.env.DEVNET_BIN;
  // The most recently built of the release and debug binaries.
  const built = ['target/release/spindle-devnet', 'target/debug/spindle-devnet']
    .map((p) => path.join(root, p))
    .filter((p) => existsSync(p))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (!built.length) throw new Error('build the devnet first: cargo build -p spindle-devnet');
  return built[0];
}

async function startDevnet(args = []) {
  const child = spawn(devnetBin(), ['--listen', '127.0.0.1:0', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('devnet did not start:\n' + out)), 20000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/JSON-RPC:\s+(\S+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on('exit', (code) => reject(new Error(`devnet exited with ${code}:\n${out}`)));
  });
  const base = url.replace(/\/api\/v2\/jsonRPC$/, '');
  return {
    jsonRpc: url,
    base,
    async devnet(method, body) {
      const res = await fetch(`${base}/devnet/${method}`, body === undefined
        ? { method: 'GET' }
        : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const json = await res.json();
      if (!json.ok) throw new Error(`devnet ${method}: ${JSON.stringify(json)}`);
      return json.result;
    },
    async rpc(method, params) {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id: 1, jsonrpc: '2.0', method, params }) });
      return res.json();
    },
    stop() { child.kill('SIGTERM'); },
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, fn, timeoutMs = 15000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

module.exports = { devnetBin, startDevnet, sleep, waitFor };
