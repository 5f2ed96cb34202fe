// {{name}}: an esprit policy plugin (WIT esprit:plugin/policy@0.2.0).
//
// ICMP passes in the clear; TCP/UDP to a port listed in the config key
// `ports` (comma-separated, default 443) is protected by ESP in transport
// mode, one SA per port; everything else is discarded.
//
// Build: `npm install && npm run build` (componentize-js, every WASI feature
// disabled: the host grants none). WIT types in JavaScript: records are
// objects with camelCase fields, variants `{ tag, val }`, enums strings,
// option `undefined` for none, u64 a BigInt; throwing from `init` returns
// its `err` (a string).
import { log, configGet } from 'esprit:plugin/host@0.2.0';

let ports = [];

function parsePorts(text) {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const p = Number(s);
      if (!/^[0-9]+$/.test(s) || p < 1 || p > 65535) {
        throw `{{name}}: config \`ports\`: ${JSON.stringify(s)} is not a port (1-65535)`;
      }
      return p;
    });
}

function decision(verdict, explanation, saKey) {
  return { verdict, cacheTtlMs: 60000n, explanation, saKey };
}

// Read and check the config; a throw rejects the plugin.
export function init() {
  ports = parsePorts(configGet('ports') ?? '443');
  log('info', `{{name}}: protecting ports ${ports.join(', ')}`);
}

// One flow: the verdict and, for verdicts that use SAs, the SA key.
export function decide(flow) {
  if (flow.proto === 1 || flow.proto === 58) {
    return decision({ tag: 'bypass' }, '{{name}}: icmp in the clear', undefined);
  }
  if ((flow.proto === 6 || flow.proto === 17) && ports.includes(flow.dstPort)) {
    const esp = { proto: 'esp', mode: 'transport', tunnel: undefined, level: { tag: 'require' } };
    return decision({ tag: 'protect', val: [esp] }, `{{name}}: port ${flow.dstPort} protected`, BigInt(flow.dstPort));
  }
  return decision({ tag: 'discard' }, `{{name}}: port ${flow.dstPort} not listed`, undefined);
}
