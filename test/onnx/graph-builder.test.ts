/** GraphBuilder.rename: how generated graphs name their outputs without copying them. */
import assert from 'node:assert/strict';
import { GraphBuilder, onnxProto } from '../../src/onnx/graph-builder';

describe('GraphBuilder', function () {
  it('renames a computed value where it is made and where it is used, and gives an input a copy', function () {
    const g = new GraphBuilder('rename');
    const x = g.input('x', 'float', ['batch', 3]);
    const h = g.op('Relu', [x]);
    g.op('Neg', [h], {}, 'negated');
    assert.equal(g.rename(h, 'activated'), 'activated');
    assert.equal(g.rename(x, 'same'), 'same');
    const nodes = onnxProto().ModelProto.decode(g.build()).graph?.node ?? [];
    assert.deepEqual(
      nodes.map((n) => [n.opType, n.input, n.output]),
      [
        ['Relu', ['x'], ['activated']],
        ['Neg', ['activated'], ['negated']],
        ['Identity', ['x'], ['same']],
      ],
    );
  });

  it('leaves out, when asked to prune, the nodes and initializers no output depends on', function () {
    const g = new GraphBuilder('prune');
    const x = g.input('x', 'float', ['batch', 3]);
    const unused = g.floatTensor('unused', [3], Float32Array.of(1, 2, 3));
    const dead = g.op('Add', [g.op('Exp', [x]), unused]);
    g.op('Neg', [dead]);
    g.op('Relu', [g.op('Mul', [x, g.float(2)])], {}, 'y');
    g.output('y', 'float', ['batch', 3]);
    const decode = (bytes: Uint8Array) => onnxProto().ModelProto.decode(bytes).graph;
    const pruned = decode(g.build({ prune: true }));
    assert.deepEqual(
      pruned?.node?.map((n) => n.opType),
      ['Mul', 'Relu'],
    );
    assert.deepEqual(
      pruned?.initializer?.map((t) => t.dims?.map(Number)),
      [[]],
      'the scalar 2 only',
    );
    assert.equal(decode(g.build())?.node?.length, 5, 'every node without prune');
  });
});
