/**
 * The package as a new user gets it (run by .ci/run after the suites, `node dist/test/install/install-check.js`):
 * `npm pack`, then `npm install node-red@4 <tarball>` in a fresh temporary user directory, outside this
 * repository (so without its .npmrc) and without ONNXRUNTIME_NODE_INSTALL; Node-RED started there; every hff-*
 * type registered; every example deployed; one message through example 01 (teach by inject, then a PNG posted to
 * its HTTP endpoint, and a non-image refused with 400); the compute engine the plain install gives (printed; on
 * linux-x64 it must be onnx); every `hff` sub-command README lists, run from the installed package; README's
 * pictures shipped. Prints one line per check and `N passed, N failed`; exits 1 when a check failed.
 *
 * Options: --node-red <spec> (default node-red@4), --keep (leave the temporary folder).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { freePort } from '../../src/demo/broker';
import { SHIPPED_STAGES } from '../../src/feature-stage/shipped';
import { writeIdxSplit, writePatternPng } from '../cli/fixtures';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const args = process.argv.slice(2);
const nodeRedSpec = args.includes('--node-red') ? args[args.indexOf('--node-red') + 1] : 'node-red@4';
const keep = args.includes('--keep');

let passed = 0;
let failed = 0;
function check(what: string, ok: boolean, detail = ''): boolean {
  if (ok) passed += 1;
  else failed += 1;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${detail ? `: ${detail}` : ''}`);
  return ok;
}

/** The environment of a user's shell: no npm_* variables of the npm running this script, no onnx install flag. */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) || /^ONNXRUNTIME_NODE_INSTALL/i.test(k) || k === 'HFF_BACKEND' || k === 'HFF_NO_ONNX' || k === 'HFF_NODE_RED') continue;
    env[k] = v;
  }
  return env;
}

function run(cmd: string, argv: string[], cwd: string, timeoutMs = 300_000): { code: number; stdout: string; out: string } {
  const r = spawnSync(cmd, argv, { cwd, env: userEnv(), encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

function tail(text: string, lines = 15): string {
  return `\n${text.trim().split('\n').slice(-lines).join('\n')}`;
}

async function http(url: string, init: RequestInit = {}): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(30_000), ...init, headers: { 'Node-RED-API-Version': 'v2', ...(init.headers ?? {}) } });
  return { status: res.status, text: await res.text() };
}

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Pack {
  filename: string;
  files: { path: string }[];
}

async function main(): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'hff-install-'));
  const userDir = path.join(work, 'user');
  fs.mkdirSync(userDir);
  let nodeRed: ChildProcess | undefined;
  try {
    // 1. The tarball (dist/ is built by the suites before this runs).
    const packed = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], ROOT);
    if (!check('npm pack', packed.code === 0, packed.code === 0 ? '' : tail(packed.out))) return;
    const pack = (JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as Pack[])[0];
    const tarball = path.join(work, pack.filename);
    const shipped = new Set(pack.files.map((f) => f.path));
    console.log(`     ${pack.filename}: ${shipped.size} files, ${(fs.statSync(tarball).size / 1e6).toFixed(1)} MB`);

    // README's pictures must show on npm: each is shipped, or an absolute URL to a shipped file.
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    for (const m of readme.matchAll(/!\[[^\]]*\]\(([^)\s]+)\)/g)) {
      const ref = m[1];
      const local = ref.replace(/^https:\/\/unpkg\.com\/node-red-contrib-hff(@[^/]+)?\//, '');
      check(
        `README picture ${ref}`,
        /^https?:/.test(local) || shipped.has(local),
        /^https?:/.test(local) ? 'an outside URL' : `${local} shipped: ${shipped.has(local)}`,
      );
    }
    check('the demo recording and model are shipped (hff bench-flow needs them)', shipped.has('demo/camera.mcap') && shipped.has('demo/model/model.json'));
    // Both are made from Fruits-360 photos, whose MIT licence asks for its notice with every copy.
    check('the Fruits-360 licence notice is shipped with them', shipped.has('demo/LICENSE-fruits360'));
    for (const stage of SHIPPED_STAGES) check(`the shipped feature stage ${stage.name} is in the package`, shipped.has(stage.file), stage.file);

    // 2. A plain install, as README tells a user: no .npmrc of ours, no environment variable.
    const t0 = Date.now();
    const install = run('npm', ['install', '--no-audit', '--no-fund', nodeRedSpec, tarball], userDir, 600_000);
    if (
      !check(
        `npm install ${nodeRedSpec} ${pack.filename} (${((Date.now() - t0) / 1000).toFixed(0)} s)`,
        install.code === 0,
        install.code === 0 ? '' : tail(install.out),
      )
    )
      return;
    const installed = path.join(userDir, 'node_modules', 'node-red-contrib-hff');
    const ortDir = path.join(userDir, 'node_modules', 'onnxruntime-node');
    const ortVersion = fs.existsSync(ortDir)
      ? (JSON.parse(fs.readFileSync(path.join(ortDir, 'package.json'), 'utf8')) as { version: string }).version
      : undefined;
    console.log(`     onnxruntime-node installed: ${ortVersion ?? 'no'}`);
    const nodeRedVersion = (JSON.parse(fs.readFileSync(path.join(userDir, 'node_modules', 'node-red', 'package.json'), 'utf8')) as { version: string }).version;

    // 3. Node-RED in that user directory.
    const port = await freePort();
    let log = '';
    nodeRed = spawn(process.execPath, [path.join(userDir, 'node_modules', 'node-red', 'red.js'), '--userDir', userDir, '--port', String(port)], {
      cwd: userDir,
      env: userEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const logFile = fs.createWriteStream(path.join(work, 'node-red.log'));
    const onLog = (d: Buffer) => {
      log += d.toString();
      logFile.write(d);
    };
    nodeRed.stdout!.on('data', onLog);
    nodeRed.stderr!.on('data', onLog);
    nodeRed.on('exit', (code, signal) => onLog(Buffer.from(`\n(node-red exited: ${code ?? signal})\n`)));
    const url = `http://127.0.0.1:${port}`;
    await waitFor(
      'Node-RED to serve its editor',
      () =>
        /Server now running at/.test(log)
          ? true
          : nodeRed!.exitCode !== null
            ? (() => {
                throw new Error(`Node-RED exited:${tail(log)}`);
              })()
            : undefined,
      60_000,
    );
    check(`Node-RED ${nodeRedVersion} started on ${url}`, true);

    const types = Object.keys(
      (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { 'node-red': { nodes: Record<string, string> } })['node-red'].nodes,
    );
    const sets = JSON.parse((await http(`${url}/nodes`, { headers: { Accept: 'application/json' } })).text) as Array<{
      module: string;
      types: string[];
      enabled: boolean;
      err?: string;
    }>;
    const ours = sets.filter((s) => s.module === 'node-red-contrib-hff');
    const registered = new Set(ours.filter((s) => s.enabled && !s.err).flatMap((s) => s.types));
    const missing = types.filter((t) => !registered.has(t));
    check(
      `all ${types.length} hff-* types registered`,
      missing.length === 0,
      missing.length
        ? `missing ${missing.join(', ')}; errors: ${ours
            .filter((s) => s.err)
            .map((s) => s.err)
            .join('; ')}`
        : '',
    );

    // 4. Every example deploys (alone, as a user importing it would).
    const examples = fs
      .readdirSync(path.join(installed, 'examples'))
      .filter((f) => f.endsWith('.json'))
      .sort();
    for (const file of examples) {
      const flows = fs.readFileSync(path.join(installed, 'examples', file), 'utf8');
      const before = log.length;
      const r = await http(`${url}/flows`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
        body: JSON.stringify({ flows: JSON.parse(flows) }),
      });
      await new Promise((res) => setTimeout(res, 1500));
      const errors = log
        .slice(before)
        .split('\n')
        .filter((l) => /\[error\]/.test(l));
      check(
        `deploy example ${file}`,
        r.status === 200 || r.status === 204,
        `HTTP ${r.status}${errors.length ? `; ${errors.length} error line(s), first: ${errors[0].trim()}` : ''}`,
      );
    }

    // 5. One message through example 01: teach the red part by its inject button, then classify a PNG over HTTP.
    const ex01 = JSON.parse(fs.readFileSync(path.join(installed, 'examples', '01 Classify camera frames.json'), 'utf8')) as Array<Record<string, unknown>>;
    await http(`${url}/flows`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
      body: JSON.stringify({ flows: ex01 }),
    });
    const teachRed = ex01.find((n) => n.type === 'inject' && n.name === 'teach: red part');
    // The deploy answers before the flow's nodes have all started (the previous example's fleet node may still be
    // closing): the inject endpoint is 404 until then, so ask again for up to 15 s.
    let injected = await http(`${url}/inject/${String(teachRed?.id)}`, { method: 'POST' });
    for (const until = Date.now() + 15_000; injected.status === 404 && Date.now() < until;) {
      await new Promise((res) => setTimeout(res, 250));
      injected = await http(`${url}/inject/${String(teachRed?.id)}`, { method: 'POST' });
    }
    check('example 01: inject "teach: red part"', injected.status === 200, `HTTP ${injected.status}`);
    await new Promise((res) => setTimeout(res, 1000));
    const png = path.join(work, 'red.png');
    const sharp = require(require.resolve('sharp', { paths: [installed] })) as typeof import('sharp').default;
    await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 128, g: 128, b: 128 } } })
      .composite([{ input: { create: { width: 24, height: 24, channels: 3, background: { r: 220, g: 40, b: 40 } } }, left: 20, top: 12 }])
      .png()
      .toFile(png);
    const classified = await http(`${url}/hff/classify`, { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: fs.readFileSync(png) });
    check(
      'example 01: POST /hff/classify a red-part PNG answers with a classification',
      classified.status === 200 && /"label"/.test(classified.text),
      `HTTP ${classified.status} ${classified.text.slice(0, 200)}`,
    );
    const engineLine = /hff: compute engine (\S+) .*/.exec(log);
    console.log(
      `     ENGINE of a plain install (${os.platform()}-${os.arch()}, Node ${process.version}, Node-RED ${nodeRedVersion}): ${engineLine?.[0] ?? 'no engine line in the log'}`,
    );
    const fallback = /\[warn\].*hff: compute engine.*/.exec(log);
    if (os.platform() === 'linux' && os.arch() === 'x64')
      check('a plain install runs the onnx engine', engineLine?.[1] === 'onnx', fallback?.[0] ?? engineLine?.[0] ?? '');
    else check('the engine is logged', engineLine !== null);

    // 6. Every `hff` sub-command README lists, from the installed package.
    const hff = path.join(userDir, 'node_modules', '.bin', 'hff');
    const data = path.join(work, 'data');
    // 16x16 images (FF's timing run needs 100 inputs); labels 0-9 so that bench-teach has classes to teach.
    writeIdxSplit(data, 'train', 200, 1, 16);
    writeIdxSplit(data, 't10k', 100, 2, 16);
    for (const [prefix, count] of [
      ['train', 200],
      ['t10k', 100],
    ] as const) {
      const header = Buffer.alloc(8);
      header.writeUInt32BE(0x00000801, 0);
      header.writeUInt32BE(count, 4);
      const labels = Buffer.from(Array.from({ length: count }, (_, i) => i % 10));
      fs.writeFileSync(path.join(data, `${prefix}-labels-idx1-ubyte.gz`), zlib.gzipSync(Buffer.concat([header, labels])));
    }
    const images = await Promise.all([0, 1].map((p) => writePatternPng(path.join(work, `pattern-${p}.png`), p, 10 + p, 4)));
    const model = path.join(work, 'model');
    const commands: string[][] = [
      ['info'],
      ['train', '--dataset', 'mnist', '--data', data, '--layers', '32,32', '--epochs', '1', '--out', model],
      ['eval', '--model', model, '--dataset', 'mnist', '--data', data],
      ['predict', '--model', model, ...images],
      ['teach', '--model', model, '--label', 'ring', ...images],
      ['info', '--model', model],
      ['export', '--model', model, '--onnx', path.join(work, 'm.onnx')],
      ['train', '--dataset', 'mnist', '--data', data, '--layers', 'c4k3p2,16', '--epochs', '1', '--out', path.join(work, 'conv-model')],
      ['export-stage', '--model', path.join(work, 'conv-model'), '--onnx', path.join(work, 'stage.onnx')],
      // The shipped stage, by name, from the installed package (its 32x32 colour input: the digits scaled and made RGB).
      ...SHIPPED_STAGES.map((stage) => [
        'train',
        '--dataset',
        'mnist',
        '--data',
        data,
        '--width',
        String(stage.inputShape[1]),
        '--height',
        String(stage.inputShape[0]),
        '--channels',
        '3',
        '--feature-stage',
        stage.name,
        '--layers',
        '16',
        '--epochs',
        '1',
        '--out',
        path.join(work, `model-${stage.name}`),
      ]),
      ['bench', '--dataset', 'mnist', '--data', data, '--methods', 'hff,ff,bp', '--epochs', '1', '--layers', '32', '--quick'],
      ['bench-teach', '--dataset', 'mnist', '--data', data, '--base-classes', '0-4', '--shots', '1', '--seeds', '1', '--layers', '32,32', '--epochs', '1'],
      ['bench-flow', '--frames', '40', '--warmup', '10', '--block', '20'],
      // A plain install has no aedes (a development dependency): the fleet benchmark runs on Debian's mosquitto.
      ['bench-fleet', '--robots', '3', '--parts', '2', '--layers', '32,32', '--broker', 'mosquitto'],
    ];
    const listed = new Set([...readme.matchAll(/npx hff ([a-z-]+)/g)].map((m) => m[1]));
    const covered = new Set(commands.map((c) => c[0]));
    check(
      'every sub-command README lists is run here',
      [...listed].every((c) => covered.has(c)),
      [...listed].filter((c) => !covered.has(c)).join(', '),
    );
    for (const argv of commands) {
      const r = run(hff, argv, work, 300_000);
      check(
        `hff ${argv.map((a) => (a.startsWith(work) ? path.relative(work, a) : a)).join(' ')}`,
        r.code === 0,
        r.code === 0 ? '' : `exit ${r.code}${tail(r.out)}`,
      );
    }
  } finally {
    if (nodeRed && nodeRed.exitCode === null) {
      nodeRed.kill('SIGINT');
      await new Promise((res) => setTimeout(res, 2000));
      if (nodeRed.exitCode === null) nodeRed.kill('SIGKILL');
    }
    if (keep) console.log(`     kept ${work}`);
    else fs.rmSync(work, { recursive: true, force: true });
  }
}

main()
  .catch((err: Error) => check('install check', false, err.stack ?? err.message))
  .finally(() => {
    console.log(`install check: ${passed} passed, ${failed} failed`);
    process.exit(failed > 0 ? 1 : 0);
  });
