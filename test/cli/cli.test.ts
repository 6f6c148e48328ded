/**
 * The `hff` command line end to end: `node bin/hff.js ...` as a child process on tiny synthetic data, plus a
 * few in-process checks of main(), the progress bar and the bench option parser.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseBenchOptions } from '../../src/cli/bench';
import { CliError, type CliIO } from '../../src/cli/common';
import { main } from '../../src/cli/main';
import { formatDuration, ProgressBar, renderProgress } from '../../src/cli/progress';
import type { TrainProgress } from '../../src/hff/training';
import { tempDir } from '../helpers/data';
import { RunResult, lastJson, runHff, writeFolderSplit, writeIdxSplit, writePatternPng } from './fixtures';

interface PredictionJson {
  file: string;
  label: string;
  index: number;
  score: number;
  margin: number;
  known: boolean;
  top: { label: string; score: number }[];
}

/** Engine names the library reports: tfjs-node, tfjs-wasm, tfjs-cpu, onnx. */
const BACKEND_NAME = /(?:tfjs-[a-z]+|onnx)/;

function explain(r: RunResult): string {
  return `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
}

/** Captures main()'s output in memory. */
function captureIO(errIsTTY = false): CliIO & { stdout: string; stderr: string } {
  const io = {
    stdout: '',
    stderr: '',
    errIsTTY,
    errColumns: 120,
    out(text: string) {
      io.stdout += text;
    },
    err(text: string) {
      io.stderr += text;
    },
  };
  return io;
}

describe('hff command line', function () {
  this.timeout(60_000);
  let root: string;
  let data: string;
  let model: string;
  let images: string[];
  let ringImages: string[];

  before(async () => {
    root = tempDir('hff-cli-');
    data = path.join(root, 'data');
    // 210 train / 99 test 8x8 images of three patterns under MNIST file names (so the classes are '0'..'9').
    writeIdxSplit(data, 'train', 210, 1);
    writeIdxSplit(data, 't10k', 99, 2);
    model = path.join(root, 'model');
    // 32x32 pictures: predict and teach must resize them to the model's 8x8x1 input.
    images = await Promise.all([0, 1, 2].map((p) => writePatternPng(path.join(root, `pattern-${p}.png`), p, 100 + p, 4)));
    ringImages = await Promise.all([0, 1, 2].map((i) => writePatternPng(path.join(root, `ring-${i}.png`), 'ring', 200 + i, 4)));
  });

  after(() => {
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  describe('train, eval, predict, teach, info', () => {
    it('train --layers takes convolutional blocks (c<filters>k<kernel>p<pool>) and refuses malformed ones', async () => {
      const out = path.join(root, 'conv-model');
      const args = ['train', '--dataset', 'mnist', '--data', data, '--layers', 'c8k3p2,16', '--epochs', '3', '--batch-size', '16', '--seed', '3'];
      const r = await runHff([...args, '--out', out, '--json']);
      assert.equal(r.code, 0, explain(r));
      const j = lastJson(r);
      // Three classes: chance is 0.33 (the learning itself is checked in test/hff/conv2d-network.test.ts).
      assert.ok((j.accuracy as number) > 0.5, `test accuracy ${j.accuracy}`);
      const manifest = JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8'));
      assert.deepEqual(manifest.config.layers[0], { kind: 'conv2d', filters: 8, kernel: 3, pool: 2 });
      const bad = await runHff(['train', '--dataset', 'mnist', '--data', data, '--layers', 'c8k2,16', '--out', path.join(root, 'bad')]);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /'c8k2' is not a layer: expected dense widths and convolutional blocks/);
    });

    it('train --json trains, evaluates on the test split, saves, and reports the run', async () => {
      const args = [
        'train',
        '--dataset',
        'mnist',
        '--data',
        data,
        '--layers',
        '32,32',
        '--epochs',
        '3',
        '--batch-size',
        '16',
        '--seed',
        '3',
        '--out',
        model,
        '--json',
      ];
      const r = await runHff(args);
      assert.equal(r.code, 0, explain(r));
      const j = lastJson(r);
      assert.equal(typeof j.accuracy, 'number');
      assert.equal(j.accuracy_split, 'test');
      assert.ok((j.accuracy as number) > 0.8, `test accuracy ${j.accuracy}`);
      assert.equal(j.test_n, 99);
      assert.equal(typeof j.train_accuracy, 'number');
      assert.equal(j.epochs, 3);
      assert.equal(typeof j.seconds_per_epoch, 'number');
      assert.match(String(j.backend), BACKEND_NAME);
      assert.equal(j.out, model);
      assert.ok(fs.existsSync(path.join(model, 'model.json')));
      const manifest = JSON.parse(fs.readFileSync(path.join(model, 'model.json'), 'utf8'));
      assert.equal(manifest.config.centerInput, false, 'grey images are not centred by default');
      assert.deepEqual(
        ['shift', 'rotate', 'scale', 'inputDropout', 'hiddenDropout'].map((k) => manifest.metadata.training[k]),
        [0, 0, 0, 0, 0],
        'the regularisation used is recorded',
      );
      // No progress bar and no chatter when stderr is not a terminal and --json is given.
      assert.doesNotMatch(r.stderr, /\repoch/);
    });

    it('eval --json gives accuracy well above chance, n, per-class accuracy, backend, dataset and split', async () => {
      const r = await runHff(['eval', '--model', model, '--dataset', 'mnist', '--data', data, '--split', 'test', '--json']);
      assert.equal(r.code, 0, explain(r));
      const j = lastJson(r);
      assert.ok((j.accuracy as number) > 0.8, `accuracy ${j.accuracy} (chance is 1/3)`);
      assert.equal(j.n, 99);
      assert.equal(j.correct, Math.round((j.accuracy as number) * 99));
      const perClass = j.per_class as Record<string, number | null>;
      for (const c of ['0', '1', '2']) assert.equal(typeof perClass[c], 'number');
      assert.equal(perClass['7'], null, 'a class without test examples has no accuracy');
      assert.match(String(j.backend), BACKEND_NAME);
      assert.equal(j.dataset, 'mnist');
      assert.equal(j.split, 'test');
    });

    it('eval prints a readable report without --json', async () => {
      const r = await runHff(['eval', '--model', model, '--dataset', 'mnist', '--data', data, '--limit', '30']);
      assert.equal(r.code, 0, explain(r));
      assert.match(r.stdout, /accuracy: \d+\.\d+% \(\d+\/30\)/);
      assert.match(r.stdout, new RegExp(`backend: ${BACKEND_NAME.source}`));
      assert.match(
        r.stdout,
        /unknown rate: \d+\.\d+% \(best similarity under the model's unknown threshold 0\.3: .* call these "unknown"; accuracy counts their best class anyway\)/,
      );
    });

    it('predict --json: one object per image, resized to the model input, with the right labels', async () => {
      const r = await runHff(['predict', '--model', model, ...images, '--top', '2', '--json']);
      assert.equal(r.code, 0, explain(r));
      const out = lastJson<PredictionJson[]>(r);
      assert.ok(Array.isArray(out));
      assert.equal(out.length, 3);
      out.forEach((p, i) => {
        assert.equal(p.file, images[i]);
        assert.equal(typeof p.label, 'string');
        assert.equal(typeof p.index, 'number');
        assert.equal(typeof p.score, 'number');
        assert.equal(typeof p.margin, 'number');
        assert.equal(typeof p.known, 'boolean');
        assert.equal(p.top.length, 2);
        assert.equal(p.top[0].label, p.label);
        assert.equal(typeof p.top[1].score, 'number');
      });
      assert.deepEqual(
        out.map((p) => p.label),
        ['0', '1', '2'],
      );
    });

    it('predict without --json prints a table', async () => {
      const r = await runHff(['predict', '--model', model, images[1]]);
      assert.equal(r.code, 0, explain(r));
      assert.match(r.stdout, /file\s+label\s+score\s+margin\s+known\s+top/);
      assert.match(r.stdout, /pattern-1\.png\s+1\s/);
    });

    it('teach adds a class from 3 images, saves, and predict then names them as that class', async () => {
      const t = await runHff(['teach', '--model', model, '--label', 'ring', ...ringImages, '--json']);
      assert.equal(t.code, 0, explain(t));
      const res = lastJson(t);
      assert.equal(res.label, 'ring');
      assert.equal(res.created, true);
      assert.equal(res.index, 10);
      assert.equal(res.count, 3);
      assert.equal(res.applied, 3);
      assert.equal(res.mode, 'mean');
      assert.equal(typeof res.version, 'number');
      const p = await runHff(['predict', '--model', model, ...ringImages, '--json']);
      assert.equal(p.code, 0, explain(p));
      const out = lastJson<PredictionJson[]>(p);
      assert.deepEqual(
        out.map((x) => x.label),
        ['ring', 'ring', 'ring'],
      );
      // Teaching again updates the class instead of adding one.
      const again = await runHff(['teach', '--model', model, '--label', 'ring', ringImages[0]]);
      assert.equal(again.code, 0, explain(again));
      assert.match(again.stdout, /updated class 'ring' \(index 10\)/);
      // The plain table after teaching says what its numbers are, and why a taught winner can have a negative margin.
      const table = await runHff(['predict', '--model', model, ...ringImages, ...images]);
      assert.equal(table.code, 0, explain(table));
      assert.match(table.stdout, /^score: cosine similarity to the class \(known when at least [\d.]+\); margin: score minus the runner-up's/m);
      const rows = table.stdout.split('\n').filter((l) => l.endsWith('.png') || /\.png\s/.test(l));
      const negative = rows.some((l) => /\s-\d+\.\d{4}\s/.test(l));
      assert.equal(/A negative margin: a taught class won/.test(table.stdout), negative, table.stdout);
    });

    it('info --json: architecture, classes with counts, version, training facts, backend, size', async () => {
      const r = await runHff(['info', '--model', model, '--json']);
      assert.equal(r.code, 0, explain(r));
      const j = lastJson(r);
      const arch = j.architecture as Record<string, unknown>;
      assert.deepEqual(arch.layers, [32, 32]);
      assert.equal(arch.input_size, 64);
      assert.deepEqual(arch.input_shape, [8, 8, 1]);
      const classes = j.classes as { label: string; index: number; count: number }[];
      assert.equal(classes.length, 11);
      assert.deepEqual(classes[10], { label: 'ring', index: 10, count: 4 });
      assert.deepEqual(j.taught_classes, ['ring']);
      assert.equal(j.trained_reference_samples, 210, 'trainNetwork keeps all 210 training images (it keeps at most 512)');
      assert.equal(classes[0].count, 3 * 70, 'class 0 was seen 70 times in each of 3 epochs');
      assert.equal(typeof j.version, 'number');
      assert.match(String(j.backend), BACKEND_NAME);
      assert.ok((j.size_bytes as number) > 64 * 32 * 4);
      const training = (j.metadata as Record<string, Record<string, unknown>>).training;
      assert.equal(training.dataset, 'mnist');
      assert.equal(training.epochs, 3);
      assert.equal(training.seed, 3);
      assert.equal(training.limit, null);
      assert.equal(typeof training.secondsPerEpoch, 'number');
      assert.equal(typeof training.trainAccuracy, 'number');
      assert.equal(typeof training.testAccuracy, 'number');
      assert.match(String(training.backend), BACKEND_NAME);
      assert.ok(!Number.isNaN(Date.parse(String(training.date))));
      assert.match(String(training.command), /^hff train --dataset mnist --data .* --layers 32,32 --epochs 3 .*--json$/);
    });

    it('train --classes trains on a subset: labels renumbered, class names cut to it, recorded; bad lists exit 2', async () => {
      const subsetModel = path.join(root, 'subset-model');
      const r = await runHff([
        'train',
        '--dataset',
        'mnist',
        '--data',
        data,
        '--classes',
        '1,2',
        '--layers',
        '16',
        '--epochs',
        '3',
        '--batch-size',
        '16',
        '--rotate',
        '5',
        '--scale',
        '0.05',
        '--out',
        subsetModel,
        '--json',
      ]);
      assert.equal(r.code, 0, explain(r));
      const j = lastJson(r);
      assert.equal(j.classes, 2);
      assert.equal(j.train_n, 140, 'the 70 + 70 training examples of patterns 1 and 2');
      assert.equal(j.test_n, 66, 'evaluated on the test examples of the same classes only');
      assert.ok((j.test_accuracy as number) > 0.8, `test accuracy ${j.test_accuracy}`);
      const saved = JSON.parse(fs.readFileSync(path.join(subsetModel, 'model.json'), 'utf8')) as {
        classes: string[];
        metadata: { training: Record<string, unknown> };
      };
      assert.deepEqual(saved.classes, ['1', '2']);
      assert.deepEqual(saved.metadata.training.classIndices, [1, 2]);
      assert.deepEqual([saved.metadata.training.rotate, saved.metadata.training.scale], [5, 0.05], 'turns and resizing are recorded');
      // Predictions use the cut class list: pattern 2 is class index 1, named '2'.
      const p = await runHff(['predict', '--model', subsetModel, images[2], '--json']);
      assert.equal(p.code, 0, explain(p));
      const [pred] = lastJson<PredictionJson[]>(p);
      assert.equal(pred.label, '2');
      assert.equal(pred.index, 1);

      const range = await runHff(['train', '--dataset', 'mnist', '--data', data, '--classes', '0-12', '--out', path.join(root, 'y'), '--json']);
      assert.equal(range.code, 2, explain(range));
      assert.match(range.stderr, /hff: --classes: mnist has classes 0\.\.9 .*; no class 10, 11, 12/);
      const syntax = await runHff(['train', '--dataset', 'mnist', '--data', data, '--classes', '3-1', '--out', path.join(root, 'y')]);
      assert.equal(syntax.code, 2, explain(syntax));
      assert.match(syntax.stderr, /option '--classes <list>' argument '3-1' is invalid/);
      assert.ok(!fs.existsSync(path.join(root, 'y')));
    });

    it('HFF_BACKEND forces the backend, and info reports it', async () => {
      const r = await runHff(['info', '--model', model], { HFF_BACKEND: 'cpu' });
      assert.equal(r.code, 0, explain(r));
      assert.match(r.stdout, /backend: tfjs-cpu/);
      assert.match(
        r.stdout,
        /teaching: taught ring \(4 demonstrations\), scored by their (nearest demonstration|mean) in '(input|transfer|layers|layer:\d|colour|edges|layers\+edges)' \(leave-one-out: /,
      );
      assert.match(r.stdout, /a taught class wins when an input is nearer one of its demonstrations than all 210 kept training inputs/);
      const json = JSON.parse((await runHff(['info', '--model', model, '--json'])).stdout.trim().split('\n').pop() as string);
      assert.deepEqual(json.taught_demonstrations, { ring: 4 });
      assert.equal(
        typeof json.teaching_choice_scores[json.teaching_scoring === 'mean' ? `${json.teaching_representation} mean` : json.teaching_representation],
        'number',
      );
    });

    it('info without --model names the engine; when onnx does not load it says why and what runs instead', async () => {
      const plain = await runHff(['info']);
      assert.equal(plain.code, 0, explain(plain));
      assert.match(plain.stdout, /^backend: (onnx \(onnxruntime-node [\d.]+\)|tfjs-\w+ \(tfjs [\d.]+\))$/m);
      const fallback = await runHff(['info', '--json'], { HFF_NO_ONNX: '1' });
      assert.equal(fallback.code, 0, explain(fallback));
      const j = lastJson(fallback);
      assert.match(String(j.backend), /^tfjs-/);
      assert.equal(j.engine_fallback, 'the onnx engine did not load (disabled by $HFF_NO_ONNX); tfjs runs instead, 2-4x slower');
      const chosen = await runHff(['info', '--json', '--backend', 'cpu'], { HFF_NO_ONNX: '1' });
      assert.equal(lastJson(chosen).engine_fallback, null, 'a named engine is no fallback');
    });

    it('train refuses an --out that holds a model unless --force, and a file --out before training', async () => {
      const before = fs.readFileSync(path.join(model, 'model.json'), 'utf8');
      const args = ['train', '--dataset', 'mnist', '--data', data, '--layers', '8', '--epochs', '1'];
      const refused = await runHff([...args, '--out', model]);
      assert.equal(refused.code, 1, explain(refused));
      assert.match(refused.stderr, /already holds a model \(model\.json\); add --force to replace it/);
      assert.doesNotMatch(refused.stderr, /epoch/, 'refused before training');
      assert.equal(fs.readFileSync(path.join(model, 'model.json'), 'utf8'), before, 'the model (and its taught classes) untouched');
      const file = path.join(root, 'a-file');
      fs.writeFileSync(file, 'x');
      const onFile = await runHff([...args, '--out', file]);
      assert.equal(onFile.code, 1, explain(onFile));
      assert.match(onFile.stderr, /is a file, not a folder/);
      const copy = path.join(root, 'model-copy');
      fs.cpSync(model, copy, { recursive: true });
      const forced = await runHff([...args, '--out', copy, '--force', '--json']);
      assert.equal(forced.code, 0, explain(forced));
    });

    it('eval refuses data of another image size with a clear message', async () => {
      const other = path.join(root, 'data-10x10');
      writeIdxSplit(other, 't10k', 12, 5, 10);
      const r = await runHff(['eval', '--model', model, '--dataset', 'mnist', '--data', other, '--json']);
      assert.equal(r.code, 1, explain(r));
      assert.match(r.stderr, /hff: the mnist test images have 100 values \(10x10x1\) but model .* takes 64 \(8x8x1\)/);
    });
  });

  describe('image folders', () => {
    it('bench-teach --max-trained-loss reaches the model: every result reports the share in force', async () => {
      const folder = path.join(root, 'teach-folder');
      await writeFolderSplit(folder, 'train', 20, 1);
      await writeFolderSplit(folder, 'test', 4, 2, 2);
      const common = ['bench-teach', '--dataset', 'folder', '--data', folder, '--width', '8', '--height', '8', '--base-classes', '0-1'];
      const fast = ['--shots', '2', '--seeds', '1', '--layers', '16', '--epochs', '1', '--timing-classes', '0', '--json'];
      const set = await runHff([...common, ...fast, '--max-trained-loss', '0.3']);
      assert.equal(set.code, 0, explain(set));
      assert.equal(lastJson(set).max_trained_loss, 0.3);
      assert.match(set.stderr, /teaching settings changed: \{"maxTrainedLoss":0\.3\}/);
      const unset = await runHff([...common, ...fast]);
      assert.equal(unset.code, 0, explain(unset));
      assert.equal(lastJson(unset).max_trained_loss, 0.01);
      assert.doesNotMatch(unset.stderr, /teaching settings changed/);
    });

    it('trains on a folder dataset, evaluates a test split of larger pictures, and refuses data of other classes', async () => {
      const folder = path.join(root, 'folder');
      await writeFolderSplit(folder, 'train', 20, 1);
      await writeFolderSplit(folder, 'test', 4, 2, 2);
      const folderModel = path.join(root, 'folder-model');
      const t = await runHff([
        'train',
        '--dataset',
        'folder',
        '--data',
        folder,
        '--layers',
        '16',
        '--epochs',
        '5',
        '--batch-size',
        '8',
        '--out',
        folderModel,
        '--json',
      ]);
      assert.equal(t.code, 0, explain(t));
      assert.equal(lastJson(t).test_n, 12);
      const e = await runHff(['eval', '--model', folderModel, '--dataset', 'folder', '--data', folder, '--json']);
      assert.equal(e.code, 0, explain(e));
      const j = lastJson(e);
      assert.equal(j.n, 12);
      assert.ok((j.accuracy as number) > 0.6, `accuracy ${j.accuracy}`);
      assert.deepEqual(Object.keys(j.per_class as object).sort(), ['corner', 'left', 'top']);
      // Same 8x8x1 input, but digits '0'..'2' instead of top/left/corner.
      const bad = await runHff(['eval', '--model', folderModel, '--dataset', 'mnist', '--data', data, '--json']);
      assert.equal(bad.code, 1, explain(bad));
      assert.match(bad.stderr, /hff: the mnist test classes do not match the model's: 3 dataset class\(es\) are unknown to the model \(0, 1, 2\)/);
    });
  });

  describe('bad arguments and bad models', () => {
    it('train without --out: the error in one line and a hint on stderr, exit 2', async () => {
      const r = await runHff(['train', '--dataset', 'mnist', '--data', data]);
      assert.equal(r.code, 2, explain(r));
      assert.equal(r.stderr, "error: required option '--out <dir>' not specified\n(add --help for the usage)\n");
    });

    it('an unknown dataset: exit 2 naming the choices', async () => {
      const r = await runHff(['train', '--dataset', 'imagenet', '--data', data, '--out', path.join(root, 'x')]);
      assert.equal(r.code, 2, explain(r));
      assert.match(r.stderr, /argument 'imagenet' is invalid\. Allowed choices are mnist, fashion-mnist, cifar10, folder/);
    });

    it('non-numeric epochs: exit 2', async () => {
      const r = await runHff(['train', '--dataset', 'mnist', '--data', data, '--out', path.join(root, 'x'), '--epochs', 'ten']);
      assert.equal(r.code, 2, explain(r));
      assert.match(r.stderr, /option '--epochs <n>' argument 'ten' is invalid/);
      assert.ok(!fs.existsSync(path.join(root, 'x')));
    });

    it('a missing model directory: exit 1 with the path', async () => {
      const missing = path.join(root, 'no-such-model');
      const r = await runHff(['predict', '--model', missing, images[0], '--json']);
      assert.equal(r.code, 1, explain(r));
      assert.equal(r.stderr.trim().split('\n').pop(), `hff: model directory ${missing} does not exist`);
      assert.equal(r.stdout, '');
    });

    it('a corrupt model: exit 1 naming the broken file', async () => {
      const corrupt = path.join(root, 'corrupt');
      fs.cpSync(model, corrupt, { recursive: true });
      const weights = fs.readdirSync(corrupt).find((f) => f.startsWith('weights-')) as string;
      fs.writeFileSync(path.join(corrupt, weights), Buffer.alloc(fs.statSync(path.join(corrupt, weights)).size));
      const r = await runHff(['info', '--model', corrupt, '--json']);
      assert.equal(r.code, 1, explain(r));
      assert.match(r.stderr, /hff: cannot load model: Weights file .*weights-.*\.bin is corrupt/);
    });

    it('a missing image: exit 1 naming it', async () => {
      const r = await runHff(['teach', '--model', model, '--label', 'x', path.join(root, 'nope.png')]);
      assert.equal(r.code, 1, explain(r));
      assert.match(r.stderr, /hff: image file not found: .*nope\.png/);
    });
  });

  describe('main() in process', () => {
    it('returns 2 with the usage for no command, and one error line with a hint for an unknown command or backend', async () => {
      const none = captureIO();
      assert.equal(await main([], none), 2);
      assert.match(none.stderr, /Usage: hff/);
      for (const argv of [['fly'], ['info', '--model', model, '--backend', 'gpu']]) {
        const io = captureIO();
        assert.equal(await main(argv, io), 2, argv.join(' '));
        assert.match(io.stderr, /^error: .*\n(\(Did you mean .*\)\n)?\(add --help for the usage\)\n$/);
        assert.doesNotMatch(io.stderr, /Usage: hff/);
        assert.equal(io.stdout, '');
      }
    });

    it('returns 0 for --help and --version, on stdout', async () => {
      const help = captureIO();
      assert.equal(await main(['train', '--help'], help), 0);
      assert.match(help.stdout, /--dataset <name>/);
      const version = captureIO();
      assert.equal(await main(['--version'], version), 0);
      assert.match(version.stdout, /^\d+\.\d+\.\d+/);
    });

    it('draws the progress bar on a terminal stderr, and not with --json', async () => {
      const out = path.join(root, 'model-inprocess');
      const base = [
        'train',
        '--dataset',
        'mnist',
        '--data',
        data,
        '--layers',
        '8',
        '--epochs',
        '2',
        '--batch-size',
        '16',
        '--limit',
        '96',
        '--no-eval',
        '--out',
        out,
      ];
      const tty = captureIO(true);
      assert.equal(await main(base, tty), 0, tty.stderr);
      assert.match(tty.stderr, /\repoch 1\/2 \[=+\] 6\/6 \| ETA \d+:\d\d \| loss \d+\.\d{4} \| acc \d+\.\d\d%/);
      assert.match(tty.stderr, /\repoch 2\/2 .* 6\/6 .*\n/);
      assert.match(tty.stdout, /test accuracy: not measured/);
      const json = captureIO(true);
      assert.equal(await main([...base, '--json', '--force'], json), 0, json.stderr);
      assert.doesNotMatch(json.stderr, /\r/);
      const lines = json.stdout.trim().split('\n');
      assert.equal(lines.length, 1);
      const j = JSON.parse(lines[0]) as Record<string, unknown>;
      assert.equal(j.accuracy_split, 'train');
      assert.equal(j.test_accuracy, null);
    });
  });

  describe('progress bar', () => {
    const at = (batch: number, over: Partial<TrainProgress> = {}): TrainProgress => ({
      epoch: 1,
      epochs: 2,
      batch,
      batches: 10,
      loss: 0.5,
      accuracy: 0.875,
      elapsedMs: 1000,
      etaMs: 65_000,
      ...over,
    });

    it('renders epoch, batch, ETA, loss and running accuracy', () => {
      assert.equal(renderProgress(at(5), 10), 'epoch 1/2 [=====>    ]  5/10 | ETA 1:05 | loss 0.5000 | acc 87.50%');
      assert.equal(formatDuration(3_723_000), '1:02:03');
      assert.equal(formatDuration(Number.NaN), '?');
    });

    it('redraws at most every 100 ms, always at the end of an epoch, which it keeps on its own line', () => {
      let now = 0;
      let written = '';
      const bar = new ProgressBar({ write: (t) => (written += t), now: () => now });
      bar.update(at(1));
      now = 50;
      bar.update(at(2));
      now = 99;
      bar.update(at(3));
      now = 120;
      bar.update(at(4));
      now = 130;
      bar.update(at(10));
      const draws = written.split('\r').filter((s) => s !== '');
      assert.deepEqual(
        draws.map((d) => /\s(\d+)\/10/.exec(d)?.[1]),
        ['1', '4', '10'],
      );
      assert.ok(written.endsWith('\n'));
    });
  });

  describe('bench options', () => {
    it('parses the documented form into the runBench options object', () => {
      const o = parseBenchOptions([
        '--dataset',
        'mnist',
        '--data',
        '/d',
        '--methods',
        'hff,bp',
        '--epochs',
        '2',
        '--layers',
        '100,100',
        '--limit',
        '500',
        '--quick',
        '--json',
        '--batch-size',
        '64',
        '--lr',
        '0.01',
        '--backend',
        'cpu',
      ]);
      assert.deepEqual(o, {
        dataset: 'mnist',
        data: '/d',
        methods: ['hff', 'bp'],
        epochs: 2,
        layers: [100, 100],
        limit: 500,
        quick: true,
        json: true,
        batchSize: 64,
        learningRate: 0.01,
        backend: 'cpu',
      });
      assert.deepEqual(parseBenchOptions(['--dataset', 'cifar10', '--data', 'x']), {
        dataset: 'cifar10',
        data: 'x',
        methods: ['hff', 'ff', 'bp'],
        epochs: 1,
        quick: false,
        json: false,
      });
      assert.deepEqual(parseBenchOptions(['--dataset', 'mnist', '--data', 'x', '--shift', '1', '--hidden-dropout', '0.5']).regularisation, {
        shift: 1,
        hiddenDropout: 0.5,
      });
      assert.equal(parseBenchOptions(['--dataset', 'mnist', '--data', 'x', '--seed', '2']).seed, 2);
      const cnn = parseBenchOptions(['--dataset', 'cifar10', '--data', 'x', '--layers', 'c32k3p2,c64k3p2,c128k3p2', '--methods', 'hff,bp']);
      assert.deepEqual(cnn.methods, ['hff', 'bp']);
      assert.deepEqual(cnn.layers, [
        { kind: 'conv2d', filters: 32, kernel: 3, pool: 2 },
        { kind: 'conv2d', filters: 64, kernel: 3, pool: 2 },
        { kind: 'conv2d', filters: 128, kernel: 3, pool: 2 },
      ]);
      assert.throws(() => parseBenchOptions(['--dataset', 'cifar10', '--data', 'x', '--layers', 'c32k4']), /'c32k4' is not a layer/);
      assert.throws(() => parseBenchOptions(['--dataset', 'mnist', '--data', 'x', '--input-dropout', '1']), /0 <= p < 1/);
      assert.deepEqual(parseBenchOptions(['--dataset', 'mnist', '--data', 'x', '--rotate', '10', '--scale', '0.1']).regularisation, { rotate: 10, scale: 0.1 });
      assert.throws(() => parseBenchOptions(['--dataset', 'mnist', '--data', 'x', '--rotate', '-5']), /angle in degrees/);
      assert.throws(() => parseBenchOptions(['--dataset', 'mnist', '--data', 'x', '--scale', '1']), /0 <= p < 1/);
    });

    it('rejects bad bench arguments with a usage error', async () => {
      assert.throws(
        () => parseBenchOptions(['--dataset', 'mnist', '--data', 'x', '--methods', 'hff,svm']),
        (e: unknown) => e instanceof CliError && e.exitCode === 2 && /unknown: svm/.test(e.message),
      );
      assert.throws(() => parseBenchOptions(['--dataset', 'folder', '--data', 'x']), /Allowed choices are mnist, fashion-mnist, cifar10/);
      const io = captureIO();
      assert.equal(await main(['bench', '--dataset', 'mnist'], io), 2);
      assert.match(io.stderr, /required option '--data <dir>' not specified/);
      const teachIo = captureIO();
      assert.equal(await main(['bench-teach', '--dataset', 'mnist', '--data', 'x', '--max-trained-loss', '1.5'], teachIo), 2);
      assert.match(teachIo.stderr, /'--max-trained-loss <fraction>' argument '1\.5' is invalid\. expected a fraction with 0 <= p < 1/);
    });
  });
});
