/**
 * A Node-RED 4 runtime embedded in a child process (RED.init + RED.start, no editor, no HTTP) for
 * the two-runtime fleet test. The parent (test/e2e/fleet.test.ts) forks it with an IPC channel and
 * a JSON config in argv[2]: {userDir, flows, credentials?, nodesDir}. Messages from the parent:
 *   {cmd: 'send', node, msg}  -> the node receives msg
 *   {cmd: 'stop'}             -> RED.stop(), then exit
 * The child reports {type: 'ready'} and whatever its test nodes send with process.send.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { nodeRedPath } from '../../src/demo/runtime';

interface RuntimeConfig {
  userDir: string;
  flows: unknown[];
  /** Node credentials by node id, written as Node-RED's unencrypted flows_cred.json. */
  credentials?: Record<string, Record<string, string>>;
  nodesDir: string[];
}

interface EmbeddedRed {
  init(server: http.Server, settings: Record<string, unknown>): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  nodes: { getNode(id: string): { receive(msg: unknown): void } | null };
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2]) as RuntimeConfig;
  fs.mkdirSync(config.userDir, { recursive: true });
  fs.writeFileSync(path.join(config.userDir, 'flows.json'), JSON.stringify(config.flows));
  if (config.credentials) fs.writeFileSync(path.join(config.userDir, 'flows_cred.json'), JSON.stringify(config.credentials));
  const RED = require(nodeRedPath()) as EmbeddedRed;
  const server = http.createServer();
  RED.init(server, {
    userDir: config.userDir,
    flowFile: 'flows.json',
    nodesDir: config.nodesDir,
    httpAdminRoot: false,
    httpNodeRoot: false,
    credentialSecret: false,
    logging: { console: { level: process.env.HFF_E2E_LOG ?? 'warn', metrics: false, audit: false } },
    editorTheme: { tours: false },
  });
  await RED.start();
  const send = (m: unknown): void => {
    process.send?.(m);
  };
  process.on('message', (m: { cmd: string; node?: string; msg?: unknown }) => {
    if (m.cmd === 'send' && m.node) {
      const node = RED.nodes.getNode(m.node);
      if (!node) send({ type: 'error', message: `no node ${m.node}` });
      else node.receive(m.msg);
    } else if (m.cmd === 'stop') {
      RED.stop().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready' });
}

main().catch((err: Error) => {
  process.send?.({ type: 'error', message: err.stack ?? err.message });
  process.exit(1);
});
