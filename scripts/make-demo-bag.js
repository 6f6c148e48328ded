#!/usr/bin/env node
// Builds the demo's bundled camera recording (demo/camera.mcap) from Fruits-360 photos (Horea Muresan and Mihai
// Oltean, MIT licence: demo/LICENSE-fruits360): each 100x100 photo is scaled up onto a plain white background (the
// photos' own) into a 320x240 colour camera frame, a little off centre and at a slightly different size each time,
// as a hand-placed object would be, and stored as a JPEG sensor_msgs/msg/CompressedImage on /camera/image_raw at
// 10 frames per second. Each frame's ground truth is a std_msgs/msg/String JSON on /demo/truth (same log time).
// An object stays in view for a few frames, turning as on the dataset's turntable. Four segments:
//
//   known   80 frames  fruit the model was trained on (test photos: views it never saw)
//   unseen  40 frames  a fruit it has never seen (default Pineapple), the one to teach
//   known   40 frames  trained fruit again
//   dim     80 frames  trained fruit under a lighting change: darker, lower contrast, bluer, with sensor noise
//
//   node scripts/make-demo-bag.js --data ../shared/data/fruits360 --model demo/model [--out demo/camera.mcap]
//     [--unseen Pineapple] [--example demo/pineapple.jpg] [--seed 7] [--quality 80]
//
// The known fruit are the model's classes (so --model is required). The unseen segment uses the fruit's photos that
// the model scores under its unknown threshold, in turntable order. The script prints per-segment scores, and what
// teaching does: the unseen fruit taught from 5 consecutive frames of its segment (as POST /teach does), then the
// share of its later frames named right, and the known fruit's accuracy before and after.
'use strict';
const path = require('node:path');
const fs = require('node:fs');
const sharp = require('sharp');

const root = path.resolve(__dirname, '..');
const lib = require(path.join(root, 'dist', 'src'));
const io = require(path.join(root, 'dist', 'src', 'io'));

const SEGMENTS = [
  { name: 'known', frames: 80 },
  { name: 'unseen', frames: 40 },
  { name: 'known', frames: 40 },
  { name: 'dim', frames: 80 },
];
/** Frames one known object stays in view. */
const RUN = 4;
const FPS = 10;
const WIDTH = 320;
const HEIGHT = 240;
const START_NS = 1_700_000_000_000_000_000n;
/** What the demo flow's hff-image does with a frame: the centre 240x240 square (fit 'cover') scaled to the model's input. */
const FLOW_IMAGE = { width: 32, height: 32, channels: 3, fit: 'cover', normalize: 'unit' };
/** The demonstrations POST /teach takes by default: the last 5 unknown frames. */
const TEACH_FRAMES = 5;

function parseArgs(argv) {
  const o = { data: undefined, out: path.join(root, 'demo', 'camera.mcap'), model: undefined, unseen: 'Pineapple', example: undefined, seed: 7, quality: 80 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--data') o.data = v();
    else if (a === '--out') o.out = path.resolve(v());
    else if (a === '--model') o.model = path.resolve(v());
    else if (a === '--unseen') o.unseen = v();
    else if (a === '--example') o.example = path.resolve(v());
    else if (a === '--seed') o.seed = Number(v());
    else if (a === '--quality') o.quality = Number(v());
    else throw new Error(`unknown option ${a}`);
  }
  if (!o.data) throw new Error('--data DIR (the Fruits-360 folder with train/ and test/) is required');
  if (!o.model) throw new Error('--model DIR (the demo model: its classes are the known fruit, its threshold picks the unseen frames) is required');
  return o;
}

/** A class's photos of one split in turntable order (the file names start with the angle). */
function photos(data, split, fruit) {
  const dir = path.join(data, split, fruit);
  if (!fs.existsSync(dir)) throw new Error(`no folder ${dir}: is --data the Fruits-360 folder, and ${fruit} one of its classes?`);
  const angle = (f) => Number.parseInt(f, 10);
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.jpg'))
    .sort((a, b) => angle(a) - angle(b) || (a < b ? -1 : 1))
    .map((f) => path.join(dir, f));
}

/** The lighting change on RGB bytes: 45% brightness, contrast pulled towards grey, a cool cast, sensor noise. */
function dim(rgb, random) {
  // A cool cast (dusk or a fluorescent lamp): the model centres its inputs, so darkness and contrast alone barely
  // move its scores; the colour shift does.
  const cast = [0.85, 0.95, 1.1];
  for (let i = 0; i < rgb.length; i++) {
    const v = (0.45 * (rgb[i] / 255) + 0.1) * cast[i % 3] + 0.035 * random.gaussian();
    rgb[i] = Math.round(Math.min(1, Math.max(0, v)) * 255);
  }
}

/** One camera frame: the photo scaled to `size` px on a white WIDTH x HEIGHT frame, moved by (dx, dy) from the centre. */
async function composeFrame(file, { size, dx, dy, dimmed, random, quality }) {
  const object = await sharp(file).resize(size, size, { fit: 'fill' }).removeAlpha().raw().toBuffer();
  const left = Math.round((WIDTH - size) / 2 + dx);
  const top = Math.round((HEIGHT - size) / 2 + dy);
  const frame = await sharp({ create: { width: WIDTH, height: HEIGHT, channels: 3, background: { r: 255, g: 255, b: 255 } } })
    .composite([{ input: object, raw: { width: size, height: size, channels: 3 }, left, top }])
    .removeAlpha()
    .raw()
    .toBuffer();
  if (frame.length !== WIDTH * HEIGHT * 3) throw new Error(`composed frame has ${frame.length} bytes, not ${WIDTH}x${HEIGHT} RGB`);
  if (dimmed) dim(frame, random);
  return sharp(frame, { raw: { width: WIDTH, height: HEIGHT, channels: 3 } })
    .jpeg({ quality, mozjpeg: true })
    .toBuffer();
}

/**
 * Where a frame puts its object: 232-240 px, nearly the frame's height, so that the centre square hff-image takes
 * (fit 'cover') is mostly object, as the training photos are; up to 4 px off centre. (Objects at 87-97% of the
 * height, up to 8 px off, cut the known fruit named right from 89% to 43%: the model was trained without scaling.)
 */
function placement(random) {
  return { size: 232 + Math.floor(random.next() * 9), dx: (random.next() - 0.5) * 8, dy: (random.next() - 0.5) * 8 };
}

/** The representation teaching chose, and its leave-one-out score. */
function describeChoice(choice) {
  if (!choice || typeof choice !== 'object') return String(choice);
  return `'${choice.representation}', ${choice.scoring}, leave-one-out ${Number(choice.score).toFixed(2)}`;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const random = new lib.SeededRandom(o.seed);
  const net = await lib.loadNetwork(o.model, await lib.createEngine());
  const known = net.classes.slice();
  if (known.includes(o.unseen)) throw new Error(`--unseen ${o.unseen} is one of the model's classes; pick a fruit it was not trained on`);
  const vectorOf = async (jpeg) => (await lib.imageToVector(jpeg, FLOW_IMAGE)).vector;

  // Known objects: runs of RUN consecutive test views of a fruit, the fruit in a seeded order, each view used once.
  const views = new Map(known.map((fruit) => [fruit, photos(o.data, 'test', fruit)]));
  const nextView = new Map(known.map((fruit) => [fruit, Math.floor(random.next() * 40)]));
  let order = [];
  const knownRun = () => {
    if (order.length === 0) order = Array.from(random.permutation(known.length), (i) => known[i]);
    const fruit = order.shift();
    const list = views.get(fruit);
    const start = nextView.get(fruit);
    nextView.set(fruit, start + RUN);
    return Array.from({ length: RUN }, (_, i) => ({ fruit, file: list[(start + i) % list.length] }));
  };

  // The unseen fruit: its photos of both splits (it was never trained on) in turntable order, those under the
  // model's unknown threshold (as placed in a frame), spread evenly over a full turn.
  const unseenCount = SEGMENTS.filter((s) => s.name === 'unseen').reduce((n, s) => n + s.frames, 0);
  const all = [...photos(o.data, 'train', o.unseen), ...photos(o.data, 'test', o.unseen)].sort(
    (a, b) => Number.parseInt(path.basename(a), 10) - Number.parseInt(path.basename(b), 10),
  );
  const unknownViews = [];
  for (const file of all) {
    const jpeg = await composeFrame(file, { ...placement(random), dimmed: false, random, quality: o.quality });
    const p = net.predict(await vectorOf(jpeg), 1)[0];
    if (!p.known) unknownViews.push({ fruit: o.unseen, file, jpeg });
  }
  console.log(`${o.unseen}: ${unknownViews.length} of its ${all.length} photos are under the unknown threshold ${net.config.unknownThreshold}`);
  if (unknownViews.length < unseenCount)
    throw new Error(`only ${unknownViews.length} ${o.unseen} photos are unknown to the model; the recording needs ${unseenCount}`);
  const unseenViews = Array.from({ length: unseenCount }, (_, i) => unknownViews[Math.floor((i * unknownViews.length) / unseenCount)]);

  fs.mkdirSync(path.dirname(o.out), { recursive: true });
  const writer = await io.BagWriter.open(o.out, { overwrite: true, library: 'node-red-contrib-hff make-demo-bag' });
  const frames = [];
  let u = 0;
  for (const segment of SEGMENTS) {
    let run = [];
    for (let f = 0; f < segment.frames; f++) {
      let view;
      if (segment.name === 'unseen') view = unseenViews[u++];
      else {
        if (run.length === 0) run = knownRun();
        view = run.shift();
      }
      const jpeg = view.jpeg || (await composeFrame(view.file, { ...placement(random), dimmed: segment.name === 'dim', random, quality: o.quality }));
      const frame = frames.length;
      const t = START_NS + BigInt(frame) * BigInt(1e9 / FPS);
      const stamp = { sec: Number(t / 1_000_000_000n), nanosec: Number(t % 1_000_000_000n) };
      // The truth first: at equal log times replay keeps file order, so a flow has it before the frame.
      await writer.write('/demo/truth', 'std_msgs/msg/String', { data: JSON.stringify({ frame, segment: segment.name, label: view.fruit }) }, { logTime: t });
      await writer.write(
        '/camera/image_raw',
        'sensor_msgs/msg/CompressedImage',
        { header: { stamp, frame_id: 'camera' }, format: 'jpeg', data: jpeg },
        { logTime: t },
      );
      frames.push({ segment: segment.name, label: view.fruit, jpeg });
    }
  }
  await writer.close();
  const bytes = frames.reduce((n, f) => n + f.jpeg.length, 0);
  console.log(
    `wrote ${o.out}: ${frames.length} ${WIDTH}x${HEIGHT} JPEG frames (${SEGMENTS.map((s) => `${s.name} ${s.frames}`).join(', ')}), ` +
      `${fs.statSync(o.out).size} bytes (JPEGs ${Math.round(bytes / frames.length)} bytes each on average)`,
  );
  if (o.example) {
    // The picture README's curl example teaches with: a frame of the unseen fruit.
    fs.writeFileSync(o.example, unseenViews[Math.floor(unseenCount / 2)].jpeg);
    console.log(`wrote ${o.example}: a ${o.unseen} frame of the recording`);
  }

  for (const f of frames) f.vector = await vectorOf(f.jpeg);
  const report = (title, predictions) => {
    console.log(title);
    for (const name of ['known', 'unseen', 'dim']) {
      const idx = frames.map((f, i) => i).filter((i) => frames[i].segment === name);
      const ps = idx.map((i) => predictions[i]);
      const known = ps.filter((p) => p.known).length;
      const correct = idx.filter((i) => predictions[i].known && predictions[i].label === frames[i].label).length;
      const score = ps.reduce((s, p) => s + p.score, 0) / ps.length;
      console.log(
        `  ${name.padEnd(7)} ${idx.length} frames: mean score ${score.toFixed(3)}, known ${known}, named right ${correct} (${((100 * correct) / idx.length).toFixed(1)}%)`,
      );
    }
  };
  const predictAll = () => frames.map((f) => net.predict(f.vector, 1)[0]);
  report('before teaching:', predictAll());
  // Teaching as the demo flow does it: the last 5 unknown frames when the button is pressed in the middle of the
  // unseen segment.
  const unseenFrames = frames.map((f, i) => i).filter((i) => frames[i].segment === 'unseen');
  const taughtFrames = unseenFrames.slice(unseenCount / 2 - TEACH_FRAMES, unseenCount / 2);
  const examples = new Float32Array(TEACH_FRAMES * net.inputSize);
  taughtFrames.forEach((i, k) => examples.set(frames[i].vector, k * net.inputSize));
  const started = Date.now();
  net.teach(o.unseen, examples, TEACH_FRAMES, {});
  const after = predictAll();
  console.log(
    `taught ${o.unseen} from frames ${taughtFrames.join(', ')} in ${Date.now() - started} ms (representation ${describeChoice(net.teachingRepresentation)})`,
  );
  report('after teaching:', after);
  const later = unseenFrames.filter((i) => i > taughtFrames[TEACH_FRAMES - 1]);
  const namedLater = later.filter((i) => after[i].label === o.unseen && after[i].known).length;
  const others = unseenFrames.filter((i) => !taughtFrames.includes(i));
  const namedOthers = others.filter((i) => after[i].label === o.unseen && after[i].known).length;
  const wrongly = frames.filter((f, i) => f.segment !== 'unseen' && after[i].label === o.unseen).length;
  console.log(
    `  ${o.unseen}: ${namedLater}/${later.length} of the segment's later frames named ${o.unseen}, ` +
      `${namedOthers}/${others.length} of all its untaught frames (the next pass too); ${wrongly} other frames called ${o.unseen}`,
  );
  net.dispose();
}

main().catch((err) => {
  console.error(`make-demo-bag: ${err.stack || err.message}`);
  process.exit(1);
});
