/**
 * The feature stages shipped in the package (stages/), chosen by name: the file is there, in package.json's
 * "files", has the checksum the code records, opens by name; a bad name or image shape is refused with the
 * shipped names, and a model made with a shipped stage finds the package's copy by checksum.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { onnxAvailability } from '../../src/engines/backend';
import { FeatureStage, readRecordedStage, sha256Of } from '../../src/feature-stage/feature-stage';
import { SHIPPED_STAGES, isStageName, shippedStage, shippedStagePath } from '../../src/feature-stage/shipped';
import { runHff } from '../cli/fixtures';
import { skipForEnvironment } from '../helpers/skip';
import { colourImages } from './fixtures';

const ROOT = path.resolve(__dirname, '..', '..', '..');

describe('shipped feature stages (by name)', function () {
  it('tells names from files', function () {
    assert.equal(isStageName('cifar10-conv'), true);
    assert.equal(isStageName('my-stage'), true);
    assert.equal(isStageName('cifar10-conv.onnx'), false);
    assert.equal(isStageName('stages/cifar10-conv'), false);
    assert.equal(isStageName('C:\\stages\\x'), false);
  });

  it('refuses an unknown name, listing the shipped ones', function () {
    assert.throws(
      () => shippedStage('imagenet'),
      (err: Error) => {
        assert.match(err.message, /unknown feature stage name "imagenet"/);
        for (const s of SHIPPED_STAGES) assert.ok(err.message.includes(s.name), err.message);
        return true;
      },
    );
  });

  for (const stage of SHIPPED_STAGES) {
    describe(stage.name, function () {
      it('is in the package with the checksum the code records', function () {
        const file = shippedStagePath(stage);
        assert.equal(file, path.join(ROOT, stage.file));
        const bytes = fs.readFileSync(file);
        assert.equal(sha256Of(bytes), stage.sha256);
        assert.ok(bytes.length < 5e6, `${stage.file}: ${bytes.length} bytes`);
        const files = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { files: string[] }).files;
        assert.ok(
          files.some((f) => stage.file === f || stage.file.startsWith(`${f}/`)),
          `package.json "files" (${files.join(', ')}) ships ${stage.file}`,
        );
      });

      describe('opened by name', function () {
        before(function () {
          const a = onnxAvailability();
          if (!a.available) skipForEnvironment(this, `onnxruntime-node unavailable (${a.reason}): the stage runs on it`);
        });

        it('runs, giving the recorded output size and unit-length vectors', function () {
          const opened = FeatureStage.open({ file: stage.name, inputShape: stage.inputShape });
          try {
            assert.equal(opened.path, shippedStagePath(stage));
            assert.equal(opened.config.file, shippedStagePath(stage));
            assert.equal(opened.config.sha256, stage.sha256);
            assert.equal(opened.config.outputSize, stage.outputSize);
            const probe = colourImages(stage.inputShape[0], 1, 5);
            const out = opened.run(probe.images, probe.n);
            for (let b = 0; b < probe.n; b++) {
              const row = out.subarray(b * stage.outputSize, (b + 1) * stage.outputSize);
              const norm = Math.hypot(...row);
              assert.ok(Math.abs(norm - 1) < 1e-4, `image ${b}: norm ${norm}`);
            }
          } finally {
            opened.dispose();
          }
        });

        it('refuses images of another shape, naming the one it takes', function () {
          assert.throws(
            () => FeatureStage.open({ file: stage.name, inputShape: [64, 64, 3] }),
            new RegExp(`shipped feature stage ${stage.name} takes ${stage.inputShape.join('x')} images .*got 64x64x3`),
          );
        });

        it('is found in this installation for a model made with it elsewhere (by checksum, not by path)', function () {
          const found = readRecordedStage({ file: `/elsewhere/node_modules/node-red-contrib-hff/${stage.file}`, sha256: stage.sha256 });
          assert.equal(found.found, shippedStagePath(stage));
        });
      });
    });
  }

  it('the hff-model dialog offers every shipped stage, with its image shape, and nothing else', function () {
    const html = fs.readFileSync(path.join(ROOT, 'nodes', 'hff-model', 'hff-model.html'), 'utf8');
    const offered = [...html.matchAll(/<option value="([^"]+)" data-shipped data-shape="([^"]+)"/g)].map((m) => `${m[1]} ${m[2]}`);
    assert.deepEqual(
      offered,
      SHIPPED_STAGES.map((s) => `${s.name} ${s.inputShape.join('x')}`),
    );
  });

  it('FeatureStage.open refuses an unknown name, listing the shipped ones', function () {
    assert.throws(
      () => FeatureStage.open({ file: 'resnet50', inputShape: [32, 32, 3] }),
      /unknown feature stage name "resnet50": the shipped stages are cifar10-conv/,
    );
  });

  describe('--feature-stage NAME on the command line', function () {
    it('a bad name exits 2 listing the shipped names; a shipped name with a file setting is refused', async function () {
      const bad = await runHff(['train', '--dataset', 'cifar10', '--data', '/nonexistent', '--out', '/nonexistent/out', '--feature-stage', 'vgg']);
      assert.equal(bad.code, 2, bad.stderr);
      assert.match(bad.stderr, /'vgg' is invalid\. unknown feature stage name "vgg": the shipped stages are cifar10-conv/);
      const mixed = await runHff([
        'bench-teach',
        '--dataset',
        'cifar10',
        '--data',
        '/nonexistent',
        '--feature-stage',
        'cifar10-conv',
        '--feature-mean',
        '0.5',
        '--feature-bgr',
      ]);
      assert.equal(mixed.code, 2, mixed.stderr);
      assert.match(mixed.stderr, /--feature-mean, --feature-bgr: the shipped feature stage cifar10-conv has its own settings/);
    });
  });
});
