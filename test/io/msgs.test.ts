import assert from 'node:assert/strict';
import { parse } from '@foxglove/rosmsg';
import {
  ROS2MSG_SEPARATOR,
  checkMessage,
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
  type RosMessage,
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
    assert.deepEqual(
      defs.map((d) => d.name ?? ''),
      ['', 'std_msgs/Header', 'builtin_interfaces/Time'],
    );

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
      height: 3,
      width: 4,
      encoding: 'rgb8',
      is_bigendian: 0,
      step: 12,
      data: pixels,
    };
    const bytes = encodeCdr('sensor_msgs/msg/Image', image);
    assert.deepEqual([...bytes.subarray(0, 4)], [0, 1, 0, 0], 'little-endian CDR encapsulation header');
    const back = decodeCdr('sensor_msgs/msg/Image', bytes);
    assert.ok(Buffer.isBuffer(back.data));
    assert.ok((back.data as Buffer).equals(pixels));
    assert.deepEqual({ ...back, data: null }, { ...image, data: null });
    assert.ok(Buffer.from(encodeCdr('sensor_msgs/msg/Image', back)).equals(Buffer.from(bytes)));

    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0xff, 0xd9]);
    const ci = decodeCdr(
      'sensor_msgs/CompressedImage',
      encodeCdr('sensor_msgs/CompressedImage', {
        header: { stamp: { sec: 5, nanosec: 6 }, frame_id: 'cam' },
        format: 'jpeg',
        data: jpeg,
      }),
    );
    assert.equal(ci.format, 'jpeg');
    assert.ok(Buffer.isBuffer(ci.data) && (ci.data as Buffer).equals(jpeg));

    assert.deepEqual(decodeCdr('std_msgs/msg/String', encodeCdr('std_msgs/msg/String', { data: 'héllo' })), { data: 'héllo' });

    const arr = decodeCdr(
      'std_msgs/msg/Float32MultiArray',
      encodeCdr('std_msgs/msg/Float32MultiArray', {
        layout: { dim: [{ label: 'x', size: 3, stride: 3 }], data_offset: 0 },
        data: [0.5, -1, 2],
      }),
    );
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
    assert.throws(() => encodeCdr('sensor_msgs/msg/Image', { data: 12 } as never), /field 'data' must be bytes .*got the number 12/);
  });

  it('refuses a field of the wrong type, naming the field, what was given and what the type accepts', () => {
    const refusals: Array<[string, RosMessage, RegExp | string]> = [
      ['sensor_msgs/msg/Image', { width: 'x' }, `sensor_msgs/msg/Image field 'width' must be a uint32 (an integer from 0 to 4294967295), got the string "x"`],
      ['sensor_msgs/msg/Image', { width: -1 }, /field 'width' must be a uint32 .*got the number -1$/],
      ['sensor_msgs/msg/Image', { height: 2 ** 32 }, /field 'height' must be a uint32 .*got the number 4294967296$/],
      ['sensor_msgs/msg/Image', { step: 1.5 }, /field 'step' must be a uint32 .*got the number 1.5$/],
      ['sensor_msgs/msg/Image', { step: 3n }, /field 'step' must be a uint32 /],
      ['sensor_msgs/msg/Image', { is_bigendian: 256 }, /field 'is_bigendian' must be a uint8 \(an integer from 0 to 255\), got the number 256$/],
      ['sensor_msgs/msg/Image', { width: null }, /field 'width' must be a uint32 .*got null$/],
      ['sensor_msgs/msg/Image', { encoding: 5 }, /field 'encoding' must be a string, got the number 5$/],
      ['sensor_msgs/msg/Image', { header: 'x' }, /field 'header' must be a std_msgs\/Header message object, got the string "x"$/],
      [
        'sensor_msgs/msg/Image',
        { header: { stamp: { sec: 'x' } } },
        /field 'header.stamp.sec' must be an int32 \(an integer from -2147483648 to 2147483647\), got the string "x"$/,
      ],
      ['sensor_msgs/msg/Image', { header: { stamp: { nanosec: -1 } } }, /field 'header.stamp.nanosec' must be a uint32 .*got the number -1$/],
      [
        'sensor_msgs/msg/Image',
        { header: { stamp: 1700000000 } },
        /field 'header.stamp' must be a time \(\{sec: int32, nanosec: uint32\}\), got the number 1700000000$/,
      ],
      ['sensor_msgs/msg/Image', { header: { frame_id: ['cam'] } }, /field 'header.frame_id' must be a string, got an array of length 1$/],
      ['sensor_msgs/msg/Image', { data: [1, 300, 2] }, /field 'data\[1\]' must be a byte \(an integer from 0 to 255\), got the number 300$/],
      ['sensor_msgs/msg/Image', { data: ['a'] }, /field 'data\[0\]' must be a byte /],
      [
        'sensor_msgs/msg/Image',
        { data: 'not base64!' },
        /field 'data' must be bytes \(a Buffer, a Uint8Array, an array of integers from 0 to 255 or base64 text\)/,
      ],
      ['sensor_msgs/msg/CompressedImage', { data: { type: 'Buffer', data: [1, -1] } }, /field 'data\[1\]' must be a byte /],
      ['std_msgs/msg/Bool', { data: 1 }, /field 'data' must be a bool \(true or false\), got the number 1$/],
      ['std_msgs/msg/Float32', { data: 1e39 }, /field 'data' must be a float32 \(a number from .*\), got the number 1e\+39$/],
      ['std_msgs/msg/Float32', { data: '0.5' }, /field 'data' must be a float32 /],
      ['std_msgs/msg/Float32MultiArray', { data: [0.5, 'a'] }, /field 'data\[1\]' must be a float32 /],
      [
        'std_msgs/msg/Float32MultiArray',
        { data: Float64Array.from([0.5]) },
        /field 'data' must be an array or a Float32Array whose items are each a float32 .*got a Float64Array of length 1$/,
      ],
      ['std_msgs/msg/Float32MultiArray', { data: { 0: 1 } }, /field 'data' must be an array or a Float32Array/],
      [
        'std_msgs/msg/Float32MultiArray',
        { layout: { dim: [{ label: 'rows', size: -3 }] } },
        /field 'layout.dim\[0\].size' must be a uint32 .*got the number -3$/,
      ],
      [
        'std_msgs/msg/Float32MultiArray',
        { layout: { dim: ['rows'] } },
        /field 'layout.dim\[0\]' must be a MultiArrayDimension message object|field 'layout.dim\[0\]' must be a std_msgs\/MultiArrayDimension message object/,
      ],
    ];
    for (const [type, message, expected] of refusals) {
      const check = (run: () => unknown): void => {
        assert.throws(
          run,
          (err: Error) => {
            if (typeof expected === 'string') assert.equal(err.message, expected);
            else assert.match(err.message, expected);
            return true;
          },
          `${type} ${JSON.stringify(message, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))}`,
        );
      };
      check(() => encodeCdr(type, message));
      check(() => checkMessage(type, message));
    }
    // Missing fields still take ROS defaults; NaN and Infinity are float32 values (REP 117 ranges use them).
    assert.deepEqual(decodeCdr('sensor_msgs/msg/Image', encodeCdr('sensor_msgs/msg/Image', {})).width, 0);
    assert.ok(Number.isNaN(decodeCdr('std_msgs/msg/Float32', encodeCdr('std_msgs/msg/Float32', { data: NaN })).data));
    assert.equal(
      decodeCdr('std_msgs/msg/Float32MultiArray', encodeCdr('std_msgs/msg/Float32MultiArray', { data: [Infinity, 0.5] })).data instanceof Float32Array,
      true,
    );
    assert.deepEqual(decodeCdr('sensor_msgs/msg/Image', encodeCdr('sensor_msgs/msg/Image', { width: 4294967295, data: 'AQI=' })).data, Buffer.from([1, 2]));
    // Types without a definition cannot be checked here: the transport decides.
    checkMessage('foo_msgs/msg/Unknown', { anything: 'x' });
  });

  it('checks 64-bit integers, fixed and bounded arrays and bounded strings of registered types', () => {
    registerMessageDefinition('hff_test/msg/Wide', 'int64 a\nuint64 b\nint64[] c\nint8[2] d\nstring<=3 e\nint32[<=2] f\n');
    const ok = { a: -(2n ** 63n), b: 2n ** 64n - 1n, c: [1n, -2n], d: [-128, 127], e: 'abc', f: [1, 2] };
    const back = decodeCdr('hff_test/msg/Wide', encodeCdr('hff_test/msg/Wide', ok));
    assert.equal(back.a, ok.a);
    assert.equal(back.b, ok.b);
    assert.equal(decodeCdr('hff_test/msg/Wide', encodeCdr('hff_test/msg/Wide', { a: 5 })).a, 5n);
    const refusals: Array<[RosMessage, RegExp]> = [
      [{ a: 2n ** 63n }, /field 'a' must be an int64 \(an integer from -9223372036854775808 to 9223372036854775807, as a number or a BigInt\)/],
      [{ b: -1 }, /field 'b' must be a uint64 .*got the number -1$/],
      [{ a: '5' }, /field 'a' must be an int64 .*got the string "5"$/],
      [{ c: [1n, 0.5] }, /field 'c\[1\]' must be an int64 /],
      [{ d: [1, 2, 3] }, /field 'd' must hold exactly 2 items, got 3$/],
      [{ d: [1, 128] }, /field 'd\[1\]' must be an int8 \(an integer from -128 to 127\)/],
      [{ e: 'abcd' }, /field 'e' holds at most 3 bytes of text, got 4$/],
      [{ f: [1, 2, 3] }, /field 'f' holds at most 2 items, got 3$/],
    ];
    for (const [message, expected] of refusals) assert.throws(() => encodeCdr('hff_test/msg/Wide', message), expected);
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
      reliability: 'best-effort',
      durability: 'volatile',
      history: 'keep-last',
      depth: 5,
    });
    assert.equal(resolveQos({ durability: 'transient_local' as never }).durability, 'transient-local');
    assert.deepEqual(resolveQos('sensor_data'), { ...CAMERA_QOS });
    assert.throws(() => resolveQos({ reliability: 'sometimes' as never }), /Invalid QoS reliability 'sometimes'/);
    assert.throws(() => resolveQos({ depth: -1 }), /Invalid QoS depth/);
    assert.throws(() => resolveQos('fastest'), /Unknown QoS preset 'fastest'/);
    const yaml = offeredQosProfilesYaml(resolveQos('camera'));
    assert.match(yaml, /^- history: 1\n {2}depth: 1\n {2}reliability: 2\n {2}durability: 2\n/);
  });
});
