import { defineActor, Rejection } from '../runtime/index.ts';

/** What a thermostat remembers between messages (and across passivation and restarts). */
export interface ThermostatState {
  targetCelsius: number;
  lastReadingCelsius: number | null;
  heating: boolean;
  readings: number;
}

/** Every message a thermostat accepts: a discriminated union on `type`. */
export type ThermostatMessage =
  | { type: 'reading'; celsius: number }
  | { type: 'setTarget'; celsius: number }
  | { type: 'status' }
  | { type: 'checkSensor' };

/** Hysteresis: heat below target - 0.5, stop above target + 0.5, so the relay does not chatter. */
const BAND = 0.5;
const SENSOR_SILENCE_MS = 60_000;

export const thermostat = defineActor<ThermostatState, ThermostatMessage>()({
  kind: 'thermostat',
  initialState: () => ({
    targetCelsius: 20,
    lastReadingCelsius: null,
    heating: false,
    readings: 0,
  }),

  onActivate(ctx) {
    // A timer belongs to this activation: it dies on passivation, which is what we want for a
    // "sensor went quiet" check that only matters while the thermostat is in use.
    ctx.setTimer('sensor-watch', SENSOR_SILENCE_MS, { type: 'checkSensor' });
  },

  handlers: {
    reading(ctx, m) {
      if (!Number.isFinite(m.celsius) || m.celsius < -80 || m.celsius > 150) {
        throw new Rejection(`reading.celsius: ${m.celsius} is outside -80..150`, 'invalid-reading');
      }
      const s = ctx.state;
      s.lastReadingCelsius = m.celsius;
      s.readings++;
      if (m.celsius < s.targetCelsius - BAND) s.heating = true;
      else if (m.celsius > s.targetCelsius + BAND) s.heating = false;
      ctx.setTimer('sensor-watch', SENSOR_SILENCE_MS, { type: 'checkSensor' });
      return s.heating;
    },

    async setTarget(ctx, m) {
      if (!(m.celsius >= 5 && m.celsius <= 30)) {
        throw new Rejection(`setTarget.celsius: ${m.celsius} is outside 5..30`, 'invalid-target');
      }
      ctx.state.targetCelsius = m.celsius;
      // A setting a person chose must not be lost to a crash: checkpoint it now.
      await ctx.save();
      return ctx.state.targetCelsius;
    },

    status(ctx) {
      return { ...ctx.state };
    },

    checkSensor(ctx) {
      ctx.log.warn({ thermostat: ctx.key }, 'no reading for a minute; heating off for safety');
      ctx.state.heating = false;
    },
  },
});
