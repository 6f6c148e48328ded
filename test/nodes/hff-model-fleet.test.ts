/** hff-model's fleet settings in a real Node-RED runtime: what its client nodes show. */
import { ALL_NODES, TAB, assertNoUnhandledRejection, helper, initNodeRed4, modelConfig, onTab, removeTempDirs, waitStatus } from './flow-helpers';
import { startAedes, type Broker } from './io/support';

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

  it('a shared secret chosen without a secret turns fleet sharing off, said on the status', async () => {
    await helper.load(ALL_NODES, flow({ fleetSecurity: 'secret' }));
    await waitStatus('classify', (s) => s.fill === 'yellow' && /^fleet off: bad settings/.test(String(s.text)));
  });
});
