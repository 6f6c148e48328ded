/** hff-model's fleet settings in a real Node-RED runtime: what its client nodes show. */
import { ALL_NODES, TAB, assertNoUnhandledRejection, helper, initNodeRed4, modelConfig, onTab, removeTempDirs, waitStatus } from './flow-helpers';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { startAedes, type Broker } from '../helpers/io';

describe('hff-model fleet settings (Node-RED runtime)', function () {
  this.timeout(20000);
  let broker: Broker;
  before(async () => {
    broker = await startAedes();
  });
  beforeEach(() => {
    initNodeRed4();
  });
  afterEach(async () => {
    await helper.unload();
    assertNoUnhandledRejection();
  });
  after(async () => {
    await broker.stop();
    removeTempDirs();
  });

  const flow = (fleet: Record<string, unknown>) => [
    TAB,
    modelConfig({ fleetBroker: broker.url, fleetTopic: 'status/test', fleetOrigin: 'robot-1', ...fleet }),
    onTab({ id: 'classify', type: 'hff-classify', model: 'model', wires: [[], []] }),
  ];

  it('an unsigned fleet shows a yellow warning on the model clients, not a silent default', async () => {
    await helper.load(ALL_NODES, flow({ fleetSecurity: 'unsigned' }));
    await waitStatus('classify', (s) => s.fill === 'yellow' && s.text === 'fleet UNSIGNED: anyone can teach it');
  });

  it('a broker that cannot be reached: one status on the model clients and one log line, not one per retry', async () => {
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port: p } = server.address() as AddressInfo;
        server.close(() => resolve(p));
      });
    });
    await helper.load(ALL_NODES, flow({ fleetBroker: `mqtt://127.0.0.1:${port}`, fleetSecurity: 'unsigned' }));
    await waitStatus('classify', (s) => s.fill === 'yellow' && s.text === 'fleet: broker unreachable');
    // mqtt.js retries about every second: give it three attempts.
    await new Promise((resolve) => setTimeout(resolve, 3500));
    const spy = helper.log() as unknown as { getCalls(): Array<{ args: [{ msg: unknown }] }> };
    const refused = spy.getCalls().filter((c) => /ECONNREFUSED/.test(String(c.args[0]?.msg)));
    assert.equal(refused.length, 1, refused.map((c) => String(c.args[0].msg)).join('\n'));
  });

  it('a shared secret chosen without a secret turns fleet sharing off, said on the status', async () => {
    await helper.load(ALL_NODES, flow({ fleetSecurity: 'secret' }));
    await waitStatus('classify', (s) => s.fill === 'yellow' && /^fleet off: bad settings/.test(String(s.text)));
  });
});
