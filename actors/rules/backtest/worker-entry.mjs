// Worker threads start without the TypeScript loader the main thread runs under: register tsx
// here, then load the task module.
import { register } from 'tsx/esm/api';

register();
const task = await import('./worker.ts');
export default task.default;
