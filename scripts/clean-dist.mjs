// Empties dist/ before a build: the two tsup builds (server and browser client) share it, so
// neither may clean it itself.
import { rmSync } from 'node:fs';

rmSync(new URL('../dist/', import.meta.url), { recursive: true, force: true });
