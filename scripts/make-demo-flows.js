#!/usr/bin/env node
// Writes demo/flows.json, the flow `npm start` deploys: the bundled camera recording classified in one pass,
// teaching by demonstration (inject buttons, POST /teach?label=NAME, MQTT hff/demo/teach), the drift monitor,
// and MQTT/HTTP endpoints. Node positions live here so the flow can be regenerated after field changes:
//
//   node scripts/make-demo-flows.js [--out demo/flows.json]
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const outArg = process.argv.indexOf('--out');
const out = outArg > 0 ? path.resolve(process.argv[outArg + 1]) : path.join(root, 'demo', 'flows.json');

const TAB = 'hff-demo-tab';
const nodes = [];
const add = (node) => {
  nodes.push({ z: TAB, ...node });
  return node.id;
};
/** A function node: the fields the editor needs besides the code, in the editor's order. */
const addFunction = ({ id, name, func, outputs, ...placement }) =>
  add({ id, type: 'function', name, func, outputs, noerr: 0, initialize: '', finalize: '', libs: [], ...placement });

nodes.push({
  id: TAB,
  type: 'tab',
  label: 'HFF demo: fruit on a camera',
  disabled: false,
  info:
    'The bundled recording (demo/camera.mcap) replays as the camera: 320x240 colour JPEG frames of fruit on a table (Fruits-360 photos by Horea Muresan and Mihai Oltean, MIT licence: demo/LICENSE-fruits360).\n\n' +
    '1. Known fruit are classified in one pass (hff-classify turns green).\n' +
    "2. A fruit the model never saw ('Pineapple') comes up as unknown (yellow ring).\n" +
    "3. Press **teach unknown as 'Pineapple'** (or `curl -X POST 'http://127.0.0.1:1880/teach?label=Pineapple'`): the last 5 unknown frames become demonstrations; the answer (or a warning in the debug sidebar) names them, and frames older than 10 s or not one stretch of consecutive unknown frames (e.g. during the lighting change) are refused.\n" +
    '4. The Pineapple frames after that, and those of every later pass of the recording, are named Pineapple.\n' +
    '5. The recording ends with a lighting change (darker, noisy frames): the drift monitor turns yellow/red; teaching resets it and it stays green once the stream is back to normal.\n\n' +
    '6. The teaching page, http://127.0.0.1:1880/hff/teach/ (hff-teach-ui): the live frame, what the model calls the recent frames, select the Pineapple frames, name them and press Teach; forget and rename classes; prediction counts, drift state and warnings.\n\n' +
    'MQTT (embedded broker): results on `hff/demo/classification`, drift changes on `hff/demo/drift`, frames in on `hff/demo/camera` (PNG/JPEG or sensor_msgs/Image JSON), teach on `hff/demo/teach` (`{"label":"Pineapple"}`). HTTP: `GET /demo/state`, `POST /teach?label=NAME` (optional PNG/JPEG body).',
});

// ---- config nodes ----
const MODEL = 'hff-demo-model';
nodes.push({
  id: MODEL,
  type: 'hff-model',
  name: 'demo-fruit',
  source: 'file',
  path: 'hff-models/demo-fruit',
  backend: 'auto',
  inputSize: '3072',
  inputShape: '32x32x3',
  layers: '256,256',
  classes: '',
  tau: '',
  learningRate: '',
  unknownThreshold: '',
  seed: '',
  saveDelay: '1000',
});
const BROKER = 'hff-demo-broker';
nodes.push({
  id: BROKER,
  type: 'mqtt-broker',
  name: 'embedded broker (aedes)',
  broker: '${HFF_DEMO_MQTT_HOST}',
  port: '${HFF_DEMO_MQTT_PORT}',
  clientid: '',
  autoConnect: true,
  usetls: false,
  protocolVersion: '4',
  keepalive: '60',
  cleansession: true,
  autoUnsubscribe: true,
  birthTopic: '',
  closeTopic: '',
  willTopic: '',
  sessionExpiry: '',
});

// ---- comments (the story, top to bottom) ----
const comment = (id, name, x, y, info = '') => add({ id, type: 'comment', name, info, x, y, wires: [] });
comment('c-camera', '1. Camera: the bundled recording replays (or frames arrive over MQTT)', 290, 40);
comment('c-classify', '2. One pass: known fruit green, never-seen fruit yellow (unknown)', 1030, 40);
comment('c-teach', '3. Teach by demonstration: button, POST /teach?label=NAME or MQTT hff/demo/teach', 340, 400);
comment('c-drift', '4. Drift monitor: turns yellow/red when the lighting changes, back after re-teaching', 1120, 400);
comment('c-state', '5. State for dashboards and tests: GET /demo/state', 250, 640);
comment('c-teach-page', '6. Teaching page: open /hff/teach/ (select frames, name the fruit, Teach)', 1770, 195);

// ---- 1. camera ----
add({
  id: 'camera-bag',
  type: 'hff-bag-in',
  name: 'camera recording',
  file: '${HFF_DEMO_BAG}',
  topics: '/camera/image_raw,/demo/truth',
  speedMode: 'recorded',
  factor: 1,
  start: '',
  end: '',
  loop: true,
  autostart: true,
  busyTimeout: 10,
  x: 150,
  y: 100,
  wires: [['route-topic']],
});
add({
  id: 'mqtt-camera',
  type: 'mqtt in',
  name: 'hff/demo/camera',
  topic: 'hff/demo/camera',
  qos: '0',
  datatype: 'auto-detect',
  broker: BROKER,
  nl: false,
  rap: true,
  rh: 0,
  inputs: 0,
  x: 150,
  y: 180,
  wires: [['route-topic']],
});
addFunction({
  id: 'route-topic',
  name: 'frame or truth',
  func:
    "// The recording carries each frame's true fruit on /demo/truth, just before the frame: remember it, and tag\n" +
    '// the next frame with it here, before the (asynchronous) image conversion, so that a burst of frames\n' +
    "// cannot pair a frame with the next frame's truth.\n" +
    "if (msg.topic === '/demo/truth') {\n" +
    "  const data = msg.payload && typeof msg.payload === 'object' ? msg.payload.data : msg.payload;\n" +
    "  try { flow.set('truth', JSON.parse(data)); } catch (e) { flow.set('truth', undefined); }\n" +
    '  return null;\n' +
    '}\n' +
    "// The camera picture as it came (hff-image replaces msg.payload with the model's 32x32 input): the teaching\n" +
    '// page shows it.\n' +
    'msg.picture = msg.payload;\n' +
    "if (msg.topic !== '/camera/image_raw') return msg;\n" +
    "const truth = flow.get('truth');\n" +
    "flow.set('truth', undefined);\n" +
    'if (truth) { msg.truth = truth.label; msg.segment = truth.segment; msg.frame = truth.frame; }\n' +
    'return msg;',
  outputs: 1,
  x: 360,
  y: 100,
  wires: [['camera-image']],
});
add({
  id: 'camera-image',
  type: 'hff-image',
  name: 'frame to 32x32 colour',
  model: MODEL,
  width: '32',
  height: '32',
  channels: '3',
  fit: 'cover',
  centerCrop: '1',
  normalize: 'unit',
  x: 580,
  y: 100,
  wires: [['number-frame']],
});
addFunction({
  id: 'number-frame',
  name: 'number the frame',
  func:
    '// A sequence number and arrival time per frame, so a teach answer can say which frames it used and how old they were.\n' +
    "const seq = (flow.get('seq') || 0) + 1;\n" +
    "flow.set('seq', seq);\n" +
    'msg.seq = seq;\n' +
    'msg.at = Date.now();\n' +
    'return msg;',
  outputs: 1,
  x: 790,
  y: 100,
  wires: [['classify']],
});

// ---- 2. classify ----
add({
  id: 'classify',
  type: 'hff-classify',
  name: 'which fruit?',
  model: MODEL,
  topK: '3',
  threshold: '',
  scoring: '',
  outputs: 2,
  x: 990,
  y: 100,
  wires: [
    ['remember-frames', 'result', 'drift', 'teach-page'],
    ['remember-frames', 'result', 'drift', 'teach-page'],
  ],
});
addFunction({
  id: 'remember-frames',
  name: 'keep recent and unknown frames',
  func:
    '// The demonstrations teaching uses: the last 20 frames, and the last 20 the model could not place, each with\n' +
    '// what the model called it, so a teach answer can show them and refuse stale or mixed ones.\n' +
    'const p = msg.payload;\n' +
    'const frame = { seq: msg.seq, at: msg.at, label: p.label, score: Math.round(p.score * 1000) / 1000, known: p.known, vector: msg.vector };\n' +
    "for (const key of p.known ? ['frames'] : ['frames', 'unknown']) {\n" +
    '  const pool = flow.get(key) || [];\n' +
    '  pool.push(frame);\n' +
    '  if (pool.length > 20) pool.shift();\n' +
    '  flow.set(key, pool);\n' +
    '}\n' +
    'return null;',
  outputs: 0,
  x: 1250,
  y: 180,
  wires: [],
});
addFunction({
  id: 'result',
  name: 'result and tally',
  func:
    '// One small JSON result per frame, and a running tally for GET /demo/state.\n' +
    'const p = msg.payload;\n' +
    "const state = flow.get('state') || { frames: 0, known: 0, unknown: 0, correct: 0, withTruth: 0, recent: [] };\n" +
    'const r = { label: p.label, score: Math.round(p.score * 1000) / 1000, known: p.known, truth: msg.truth, segment: msg.segment, frame: msg.frame, at: Date.now() };\n' +
    'state.frames += 1;\n' +
    'if (p.known) state.known += 1; else state.unknown += 1;\n' +
    'if (msg.truth !== undefined) { state.withTruth += 1; if (p.known && p.label === msg.truth) state.correct += 1; }\n' +
    'state.last = r;\n' +
    'state.recent.push(r);\n' +
    'if (state.recent.length > 50) state.recent.shift();\n' +
    "flow.set('state', state);\n" +
    "return { topic: 'hff/demo/classification', payload: r };",
  outputs: 1,
  x: 1220,
  y: 100,
  wires: [['mqtt-classification', 'debug-classification']],
});
add({
  id: 'mqtt-classification',
  type: 'mqtt out',
  name: 'hff/demo/classification',
  topic: '',
  qos: '0',
  retain: 'false',
  respTopic: '',
  contentType: '',
  userProps: '',
  correl: '',
  expiry: '',
  broker: BROKER,
  x: 1470,
  y: 80,
  wires: [],
});
add({
  id: 'debug-classification',
  type: 'debug',
  name: 'classifications',
  active: false,
  tosidebar: true,
  console: false,
  tostatus: false,
  complete: 'payload',
  targetType: 'msg',
  statusVal: '',
  statusType: 'auto',
  x: 1450,
  y: 130,
  wires: [],
});

// ---- 3. teach ----
add({
  id: 'inject-teach-pineapple',
  type: 'inject',
  name: "teach unknown as 'Pineapple'",
  props: [{ p: 'payload' }],
  repeat: '',
  crontab: '',
  once: false,
  onceDelay: 0.1,
  topic: '',
  payload: '{"label":"Pineapple","from":"unknown","n":5}',
  payloadType: 'json',
  x: 180,
  y: 460,
  wires: [['demonstrations']],
});
add({
  id: 'http-teach',
  type: 'http in',
  name: '',
  url: '/teach',
  method: 'post',
  upload: false,
  swaggerDoc: '',
  x: 150,
  y: 520,
  wires: [['teach-body']],
});
add({
  id: 'mqtt-teach',
  type: 'mqtt in',
  name: 'hff/demo/teach',
  topic: 'hff/demo/teach',
  qos: '1',
  datatype: 'json',
  broker: BROKER,
  nl: false,
  rap: true,
  rh: 0,
  inputs: 0,
  x: 160,
  y: 580,
  wires: [['demonstrations']],
});
add({
  id: 'teach-body',
  type: 'switch',
  name: 'picture in the body?',
  property: 'payload',
  propertyType: 'msg',
  rules: [{ t: 'istype', v: 'buffer', vt: 'buffer' }, { t: 'else' }],
  checkall: 'false',
  repair: false,
  outputs: 2,
  x: 360,
  y: 520,
  wires: [['teach-image'], ['demonstrations']],
});
add({
  id: 'teach-image',
  type: 'hff-image',
  name: 'picture to 32x32 colour',
  model: MODEL,
  width: '32',
  height: '32',
  channels: '3',
  fit: 'cover',
  centerCrop: '1',
  normalize: 'unit',
  x: 580,
  y: 500,
  wires: [['demonstrations']],
});
addFunction({
  id: 'demonstrations',
  name: 'demonstrations + label',
  func:
    '// Label from the button/MQTT payload or the query string (?label=NAME&n=5&from=unknown|recent).\n' +
    '// Demonstrations: a picture from the HTTP body (after hff-image), else the last n unknown (or recent) frames,\n' +
    '// refused (409, naming the frames) when they are stale or mixed, so a lighting change or an object that has left\n' +
    '// the camera is not taught under a new name:\n' +
    '// - stale: the oldest chosen frame arrived more than MAX_AGE_S seconds ago;\n' +
    '// - mixed, from=unknown: the frames are not one stretch of consecutive unknown frames (the model knew a frame in\n' +
    "//   between, so the object in view changed). The model's nearest class is no test: one object's unknown frames have\n" +
    '//   several (the demo Pineapple frames: six);\n' +
    '// - mixed, from=recent: the model named the chosen frames it knew with more than one class.\n' +
    'const MAX_AGE_S = 10;\n' +
    'const q = (msg.req && msg.req.query) || {};\n' +
    "const p = msg.payload && typeof msg.payload === 'object' && !ArrayBuffer.isView(msg.payload) && !Array.isArray(msg.payload) ? msg.payload : {};\n" +
    "const label = String(q.label || p.label || msg.label || '').trim();\n" +
    'const fail = (status, error, frames) => {\n' +
    '  // The button and MQTT have no one to answer: the warning shows in the debug sidebar.\n' +
    '  if (!msg.res) node.warn(`not taught: ${error}`);\n' +
    '  msg.statusCode = status;\n' +
    '  msg.payload = frames ? { error, frames } : { error };\n' +
    '  node.send([null, msg]);\n' +
    '  return null;\n' +
    '};\n' +
    'if (!label) return fail(400, \'give the object a name: ?label=NAME or {"label": NAME}\');\n' +
    'if (ArrayBuffer.isView(msg.payload) && !Buffer.isBuffer(msg.payload)) {\n' +
    '  msg.label = label;\n' +
    "  msg.demonstrations = { from: 'body', frames: [] };\n" +
    '  msg.payload = [msg.payload];\n' +
    '  return [msg, null];\n' +
    '}\n' +
    "const from = String(q.from || p.from || 'unknown');\n" +
    "if (from !== 'unknown' && from !== 'recent') return fail(400, `from=${from}: use from=unknown (the default) or from=recent`);\n" +
    'const n = Math.max(1, Math.min(20, Number(q.n || p.n || 5)));\n' +
    "const chosen = (flow.get(from === 'recent' ? 'frames' : 'unknown') || []).slice(-n);\n" +
    'if (chosen.length === 0) return fail(409, `no ${from} frames yet to teach from`);\n' +
    'const frames = chosen.map((f) => ({ seq: f.seq, at: new Date(f.at).toISOString(), label: f.label, known: f.known, score: f.score }));\n' +
    "const named = `frames ${chosen.map((f) => f.seq).join(', ')}`;\n" +
    'const ageS = (Date.now() - chosen[0].at) / 1000;\n' +
    'if (ageS > MAX_AGE_S) {\n' +
    '  return fail(409, `stale: the last ${chosen.length} ${from} frames (${named}) are up to ${ageS.toFixed(1)} s old; teaching takes frames at most ${MAX_AGE_S} s old: show the object to the camera again, or send its picture in the body`, frames);\n' +
    '}\n' +
    "if (from === 'unknown') {\n" +
    '  const gap = chosen.findIndex((f, i) => i > 0 && f.seq !== chosen[i - 1].seq + 1);\n' +
    '  if (gap > 0) {\n' +
    '    return fail(409, `mixed: the last ${chosen.length} unknown frames (${named}) are not one stretch of consecutive unknown frames: the model knew frames ${chosen[gap - 1].seq + 1}-${chosen[gap].seq - 1} between them, so the object in view changed; teach with n=${chosen.length - gap} or show the object again`, frames);\n' +
    '  }\n' +
    '} else {\n' +
    '  const names = [...new Set(chosen.filter((f) => f.known).map((f) => f.label))];\n' +
    "  if (names.length > 1) return fail(409, `mixed: the model named the last ${chosen.length} frames (${named}) as different objects (${names.join(', ')}); teach one object at a time`, frames);\n" +
    '}\n' +
    "if (from === 'unknown') flow.set('unknown', []);\n" +
    'msg.label = label;\n' +
    'msg.demonstrations = { from, frames };\n' +
    'msg.payload = chosen.map((f) => f.vector);\n' +
    'return [msg, null];',
  outputs: 2,
  x: 800,
  y: 520,
  wires: [['teach'], ['has-response']],
});
add({
  id: 'inject-forget-pineapple',
  type: 'inject',
  name: "forget 'Pineapple'",
  props: [
    { p: 'topic', vt: 'str' },
    { p: 'label', v: 'Pineapple', vt: 'str' },
  ],
  repeat: '',
  crontab: '',
  once: false,
  onceDelay: 0.1,
  topic: 'forget',
  x: 800,
  y: 580,
  wires: [['teach']],
});
add({
  id: 'inject-classes',
  type: 'inject',
  name: 'class list at start',
  props: [{ p: 'topic', vt: 'str' }],
  repeat: '',
  crontab: '',
  once: true,
  onceDelay: 0.1,
  topic: 'classes',
  x: 810,
  y: 640,
  wires: [['teach']],
});
add({
  id: 'teach',
  type: 'hff-teach',
  name: 'teach',
  model: MODEL,
  mode: 'mean',
  rate: '',
  meanOf: '',
  x: 1010,
  y: 520,
  wires: [['teach-reply', 'reset-drift']],
});
addFunction({
  id: 'teach-reply',
  name: 'reply',
  func:
    '// A short answer (the prototype sums stay out of the HTTP reply).\n' +
    'const p = msg.payload;\n' +
    'msg.payload = { action: p.action, label: p.label, created: p.created, count: p.count, examples: p.examples, classes: p.classes, version: p.version };\n' +
    'if (msg.demonstrations) { msg.payload.from = msg.demonstrations.from; msg.payload.frames = msg.demonstrations.frames; }\n' +
    "flow.set('classes', p.classes);\n" +
    '// Teaching resets the drift monitor (wired below), so its state starts over too.\n' +
    "if (p.action === 'teach') flow.set('drift', { state: 'ok', drifts: 0, n: 0, reset: true, at: Date.now() });\n" +
    'return msg;',
  outputs: 1,
  x: 1190,
  y: 520,
  wires: [['has-response', 'debug-teach']],
});
add({
  id: 'has-response',
  type: 'switch',
  name: 'HTTP request?',
  property: 'res',
  propertyType: 'msg',
  rules: [{ t: 'nnull' }],
  checkall: 'true',
  repair: false,
  outputs: 1,
  x: 1190,
  y: 580,
  wires: [['http-teach-response']],
});
add({
  id: 'http-teach-response',
  type: 'http response',
  name: '',
  statusCode: '',
  headers: {},
  x: 1390,
  y: 580,
  wires: [],
});
add({
  id: 'debug-teach',
  type: 'debug',
  name: 'taught',
  active: true,
  tosidebar: true,
  console: false,
  tostatus: false,
  complete: 'payload',
  targetType: 'msg',
  statusVal: '',
  statusType: 'auto',
  x: 1380,
  y: 520,
  wires: [],
});

// ---- 6. teaching page ----
add({
  id: 'teach-page',
  type: 'hff-teach-ui',
  name: 'teaching page',
  model: MODEL,
  path: '/hff/teach',
  picture: 'picture',
  fps: '4',
  strip: '24',
  keep: '120',
  window: '5',
  closeCosine: '0.8',
  x: 1480,
  y: 195,
  wires: [['teach-reply', 'reset-drift']],
});

// ---- 4. drift ----
addFunction({
  id: 'reset-drift',
  name: 'after teaching: start over',
  func:
    '// Teaching changes what normal similarity is, so the drift monitor starts over; a class-list query changes nothing.\n' +
    "if (msg.topic === 'classes') return null;\n" +
    'msg.reset = true;\n' +
    'return msg;',
  outputs: 1,
  x: 1230,
  y: 460,
  wires: [['drift']],
});
add({
  id: 'inject-reset-drift',
  type: 'inject',
  name: 'reset drift monitor',
  props: [{ p: 'reset', v: 'true', vt: 'bool' }],
  repeat: '',
  crontab: '',
  once: false,
  onceDelay: 0.1,
  topic: '',
  x: 1250,
  y: 300,
  wires: [['drift']],
});
add({
  id: 'drift',
  type: 'hff-drift',
  name: 'similarity drift',
  detector: 'page-hinkley',
  direction: 'down',
  phDelta: '0.02',
  phLambda: '2',
  phAlpha: '',
  minInstances: '30',
  adwinDelta: '',
  adwinClock: '',
  ddmWarning: '',
  ddmDrift: '',
  holdMs: '5000',
  outputs: 2,
  x: 1460,
  y: 260,
  // Output 1 (every frame with msg.drift) feeds the teaching page's drift state; it counts each frame once.
  wires: [['teach-page'], ['drift-change']],
});
addFunction({
  id: 'drift-change',
  name: 'drift state',
  func:
    'const d = msg.drift;\n' +
    "flow.set('drift', { state: d.state, drifts: d.drifts, n: d.n, statistic: d.statistic, at: Date.now() });\n" +
    "return { topic: 'hff/demo/drift', payload: { state: d.state, drifts: d.drifts, n: d.n } };",
  outputs: 1,
  x: 1660,
  y: 260,
  wires: [['mqtt-drift', 'debug-drift']],
});
add({
  id: 'mqtt-drift',
  type: 'mqtt out',
  name: 'hff/demo/drift',
  topic: '',
  qos: '1',
  retain: 'true',
  respTopic: '',
  contentType: '',
  userProps: '',
  correl: '',
  expiry: '',
  broker: BROKER,
  x: 1860,
  y: 240,
  wires: [],
});
add({
  id: 'debug-drift',
  type: 'debug',
  name: 'drift changes',
  active: true,
  tosidebar: true,
  console: false,
  tostatus: false,
  complete: 'payload',
  targetType: 'msg',
  statusVal: '',
  statusType: 'auto',
  x: 1860,
  y: 290,
  wires: [],
});

// ---- 5. state ----
add({
  id: 'http-state',
  type: 'http in',
  name: '',
  url: '/demo/state',
  method: 'get',
  upload: false,
  swaggerDoc: '',
  x: 160,
  y: 700,
  wires: [['state']],
});
addFunction({
  id: 'state',
  name: 'demo state',
  func:
    "const state = flow.get('state') || { frames: 0, known: 0, unknown: 0, correct: 0, withTruth: 0, recent: [] };\n" +
    "msg.payload = { ...state, drift: flow.get('drift') || { state: 'ok', drifts: 0 }, classes: flow.get('classes') || [], unknownFrames: (flow.get('unknown') || []).length };\n" +
    'return msg;',
  outputs: 1,
  x: 370,
  y: 700,
  wires: [['http-state-response']],
});
add({
  id: 'http-state-response',
  type: 'http response',
  name: '',
  statusCode: '',
  headers: {},
  x: 570,
  y: 700,
  wires: [],
});
add({
  id: 'catch-all',
  type: 'catch',
  name: 'errors',
  scope: null,
  uncaught: false,
  x: 780,
  y: 700,
  wires: [['debug-errors']],
});
add({
  id: 'debug-errors',
  type: 'debug',
  name: 'errors',
  active: true,
  tosidebar: true,
  console: true,
  tostatus: false,
  complete: 'error',
  targetType: 'msg',
  statusVal: '',
  statusType: 'auto',
  x: 970,
  y: 700,
  wires: [],
});

fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, `${JSON.stringify(nodes, null, 2)}\n`);
console.log(`wrote ${out}: ${nodes.length} nodes`);
