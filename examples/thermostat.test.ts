import { afterEach, describe, expect, it } from 'vitest';
import { ActorSystem, MemoryStateStore, Rejection, silentLogger } from '../runtime/index.ts';
import { thermostat } from './thermostat.ts';

const systems: ActorSystem[] = [];
function boot(stateStore = new MemoryStateStore()) {
  const system = new ActorSystem({ logger: silentLogger, stateStore });
  system.register(thermostat);
  systems.push(system);
  return system;
}
afterEach(async () => {
  await Promise.all(systems.splice(0).map((s) => s.shutdown()));
});

describe('the thermostat example from docs/writing-actors.md', () => {
  it('heats with hysteresis', async () => {
    const living = boot().ref(thermostat, 'living-room');
    expect(await living.ask({ type: 'setTarget', celsius: 21 })).toBe(21);
    expect(await living.ask({ type: 'reading', celsius: 20.2 })).toBe(true);
    expect(await living.ask({ type: 'reading', celsius: 21.3 })).toBe(true); // inside the band
    expect(await living.ask({ type: 'reading', celsius: 21.6 })).toBe(false);
    const status = await living.ask({ type: 'status' });
    expect(status).toMatchObject({ targetCelsius: 21, lastReadingCelsius: 21.6, readings: 3 });
  });

  it('rejects bad input with an error naming the field, and keeps working', async () => {
    const hall = boot().ref(thermostat, 'hall');
    await expect(hall.ask({ type: 'reading', celsius: 900 })).rejects.toThrow(Rejection);
    await expect(hall.ask({ type: 'setTarget', celsius: 99 })).rejects.toThrow(/setTarget.celsius/);
    expect(await hall.ask({ type: 'reading', celsius: 10 })).toBe(true);
  });

  it('remembers its target across a restart of the node', async () => {
    const store = new MemoryStateStore();
    const first = boot(store);
    await first.ref(thermostat, 'attic').ask({ type: 'setTarget', celsius: 17 });
    await first.shutdown();
    const second = boot(store);
    const status = await second.ref(thermostat, 'attic').ask({ type: 'status' });
    expect(status.targetCelsius).toBe(17);
  });
});
