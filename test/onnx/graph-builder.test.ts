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
});
