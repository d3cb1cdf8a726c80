/**
 * A real `gito node` process with one extra actor kind and two test routes, started by the
 * multi-process cluster tests. Everything else (membership, transport, stores) is production code.
 */
import { hostname } from 'node:os';
import { startClusterNode } from '../../../app/cluster-node.ts';
import { loadConfig } from '../../../app/config.ts';
import { type ActorId, defineActor, type Message } from '../../../runtime/index.ts';

type Counted = { type: 'add'; by: number } | { type: 'get' };

/** Saves on every change, so its state survives even a kill -9 of its node. */
const counted = defineActor<{ total: number; adds: number }, Counted>()({
  kind: 'counted',
  initialState: () => ({ total: 0, adds: 0 }),
  handlers: {
    async add(ctx, m) {
      ctx.state.total += m.by;
      ctx.state.adds++;
      await ctx.save();
      return ctx.state.total;
    },
    get: (ctx) => ctx.state.total,
  },
});

/** Test routes are unauthenticated: they exist only in this fixture. */
const TEST_ROUTE = { config: { role: 'public' as const } };

const config = loadConfig(process.env, hostname());
const running = await startClusterNode(config, {
  publicPrefixes: ['/test/'],
  register: (system) => system.register(counted),
  routes: (app, node) => {
    app.post<{ Body: { target: string; message: Message; timeoutMs?: number } }>(
      '/test/ask',
      { config: { role: 'public' } },
      async (req) => {
        try {
          const options =
            req.body.timeoutMs === undefined ? undefined : { timeoutMs: req.body.timeoutMs };
          const value = await node.system.ask(req.body.target, req.body.message, options);
          return { ok: true, value };
        } catch (err) {
          const e = err instanceof Error ? err : new Error(String(err));
          return { ok: false, error: e.name, message: e.message };
        }
      },
    );
    app.get<{ Querystring: { id: string } }>('/test/owner', TEST_ROUTE, async (req) => ({
      owner: node.ownerOf(req.query.id as ActorId),
    }));
    app.get('/test/state', TEST_ROUTE, async () => ({
      epoch: node.currentEpoch,
      settled: node.settled,
      members: node.topology().members.map((m) => m.id),
      active: node.system.activeCount,
    }));
  },
});

const onSignal = () => {
  running.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGTERM', onSignal);
process.once('SIGINT', onSignal);
