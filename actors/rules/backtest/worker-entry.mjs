// Worker threads start without the TypeScript loader the main thread may run under. In the
// built image (dist/) the task module is JavaScript; from the sources, register tsx first.
import { existsSync } from 'node:fs';

const built = new URL('./worker.js', import.meta.url);
let task;
if (existsSync(built)) {
  task = await import(built.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  task = await import('./worker.ts');
}
export default task.default;
