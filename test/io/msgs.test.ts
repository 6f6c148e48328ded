import assert from 'node:assert/strict';
import { parse } from '@foxglove/rosmsg';
import {
  ROS2MSG_SEPARATOR,
  decodeCdr,
  encodeCdr,
  fullSchemaText,
  getCodec,
  knownMessageTypes,
  normalizeMessage,
  normalizeTypeName,
  registerMessageDefinition,
  resolveQos,
  CAMERA_QOS,
  DEFAULT_QOS,
  offeredQosProfilesYaml,
} from '../../src/io';

describe('io/msgs: bundled ROS 2 definitions and CDR', () => {
  it('builds the concatenated ros2msg schema the way rosbag2 stores it', () => {
    const text = fullSchemaText('sensor_msgs/msg/Image');
    const parts = text.split(`${ROS2MSG_SEPARATOR}\n`);
    assert.equal(parts.length, 3);
    assert.match(parts[0], /^# This message contains an uncompressed image/);
    assert.match(parts[0], /^uint8\[\] data/m);
    assert.match(parts[1], /^MSG: std_msgs\/Header\n/);
    assert.match(parts[2], /^MSG: builtin_interfaces\/Time\n/);
    const defs = parse(text, { ros2: true });
    assert.deepEqual(defs.map((d) => d.name ?? ''), ['', 'std_msgs/Header', 'builtin_interfaces/Time']);

    const multi = fullSchemaText('std_msgs/Float32MultiArray');
    assert.match(multi, /MSG: std_msgs\/MultiArrayLayout\n/);
    assert.match(multi, /MSG: std_msgs\/MultiArrayDimension\n/);
    assert.ok(multi.indexOf('MSG: std_msgs/MultiArrayLayout') < multi.indexOf('MSG: std_msgs/MultiArrayDimension'));
    assert.ok(!fullSchemaText('std_msgs/msg/String').includes(ROS2MSG_SEPARATOR));
    for (const t of ['std_msgs/msg/Header', 'builtin_interfaces/msg/Time', 'sensor_msgs/msg/CompressedImage']) {
      assert.ok(knownMessageTypes().includes(t), t);
    }
  });

  it('normalises type names and rejects malformed ones', () => {
    assert.equal(normalizeTypeName('sensor_msgs/Image'), 'sensor_msgs/msg/Image');
    assert.equal(normalizeTypeName(' std_msgs/msg/String '), 'std_msgs/msg/String');
    assert.throws(() => normalizeTypeName('Image'), /Invalid ROS 2 message type 'Image'/);
    assert.throws(() => fullSchemaText('nav_msgs/msg/Odometry'), /No message definition for 'nav_msgs\/msg\/Odometry'/);
  });

  it('round-trips Image, CompressedImage, String and Float32MultiArray with byte data as Buffer', () => {
    const pixels = Buffer.from(Array.from({ length: 4 * 3 * 3 }, (_, i) => (i * 7) & 255));
    const image = {
      header: { stamp: { sec: 1700000000, nanosec: 123 }, frame_id: 'camera_optical' },
      height: 3, width: 4, encoding: 'rgb8', is_bigendian: 0, step: 12, data: pixels,
    };
    const bytes = encodeCdr('sensor_msgs/msg/Image', image);
    assert.deepEqual([...bytes.subarray(0, 4)], [0, 1, 0, 0], 'little-endian CDR encapsulation header');
    const back = decodeCdr('sensor_msgs/msg/Image', bytes);
    assert.ok(Buffer.isBuffer(back.data));
    assert.ok((back.data as Buffer).equals(pixels));
    assert.deepEqual({ ...back, data: null }, { ...image, data: null });
    assert.ok(Buffer.from(encodeCdr('sensor_msgs/msg/Image', back)).equals(Buffer.from(bytes)));

    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0xff, 0xd9]);
    const ci = decodeCdr('sensor_msgs/CompressedImage', encodeCdr('sensor_msgs/CompressedImage', {
      header: { stamp: { sec: 5, nanosec: 6 }, frame_id: 'cam' }, format: 'jpeg', data: jpeg,
    }));
    assert.equal(ci.format, 'jpeg');
    assert.ok(Buffer.isBuffer(ci.data) && (ci.data as Buffer).equals(jpeg));

    assert.deepEqual(decodeCdr('std_msgs/msg/String', encodeCdr('std_msgs/msg/String', { data: 'héllo' })), { data: 'héllo' });

    const arr = decodeCdr('std_msgs/msg/Float32MultiArray', encodeCdr('std_msgs/msg/Float32MultiArray', {
      layout: { dim: [{ label: 'x', size: 3, stride: 3 }], data_offset: 0 }, data: [0.5, -1, 2],
    }));
    assert.deepEqual(Array.from(arr.data as Float32Array), [0.5, -1, 2]);
    assert.deepEqual((arr.layout as { dim: unknown[] }).dim, [{ label: 'x', size: 3, stride: 3 }]);
  });

  it('accepts byte arrays as number[], typed arrays and JSON-serialised Buffers', () => {
    const expected = Buffer.from([1, 2, 3, 250]);
    for (const data of [[1, 2, 3, 250], new Uint8Array([1, 2, 3, 250]), JSON.parse(JSON.stringify(expected))]) {
      const out = decodeCdr('sensor_msgs/msg/CompressedImage', encodeCdr('sensor_msgs/msg/CompressedImage', { format: 'png', data }));
      assert.ok((out.data as Buffer).equals(expected));
    }
    const normal = normalizeMessage('sensor_msgs/msg/Image', { data: [9, 8], header: { frame_id: 'a' } });
    assert.ok(Buffer.isBuffer(normal.data));
    const unknown = normalizeMessage('foo_msgs/msg/Blob', { blob: new Uint8Array([1]), nums: [1, 2] });
    assert.ok(Buffer.isBuffer(unknown.blob));
    assert.deepEqual(unknown.nums, [1, 2]);
    assert.throws(() => encodeCdr('sensor_msgs/msg/Image', { data: 12 } as never), /expected bytes/);
  });

  it('supports registering extra definitions', () => {
    registerMessageDefinition('hff_test_msgs/msg/Score', 'std_msgs/Header header\nstring label\nfloat32 score\nuint8[] crop\n');
    const text = fullSchemaText('hff_test_msgs/msg/Score');
    assert.match(text, /MSG: std_msgs\/Header/);
    const out = getCodec('hff_test_msgs/msg/Score').decode(getCodec('hff_test_msgs/msg/Score').encode({ label: 'cup', score: 0.25, crop: [7] }));
    assert.equal(out.label, 'cup');
    assert.equal(out.score, 0.25);
    assert.ok(Buffer.isBuffer(out.crop));
  });

  it('maps QoS inputs and presets', () => {
    assert.deepEqual(resolveQos(undefined), { ...CAMERA_QOS });
    assert.deepEqual(resolveQos({ reliability: 'BEST_EFFORT' as never, depth: 5 }, DEFAULT_QOS), {
      reliability: 'best-effort', durability: 'volatile', history: 'keep-last', depth: 5,
    });
    assert.equal(resolveQos({ durability: 'transient_local' as never }).durability, 'transient-local');
    assert.deepEqual(resolveQos('sensor_data'), { ...CAMERA_QOS });
    assert.throws(() => resolveQos({ reliability: 'sometimes' as never }), /Invalid QoS reliability 'sometimes'/);
    assert.throws(() => resolveQos({ depth: -1 }), /Invalid QoS depth/);
    assert.throws(() => resolveQos('fastest'), /Unknown QoS preset 'fastest'/);
    const yaml = offeredQosProfilesYaml(resolveQos('camera'));
    assert.match(yaml, /^- history: 1\n  depth: 1\n  reliability: 2\n  durability: 2\n/);
  });
});
