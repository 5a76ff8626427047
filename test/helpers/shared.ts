// Locating ../shared/fixtures (real models and photos; never copied into the repo).
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const SHARED = join(__dirname, '..', '..', '..', 'shared', 'fixtures');

export function shared(rel: string): string {
  if (!existsSync(SHARED)) {
    throw new Error(`shared fixtures folder ${SHARED} is missing: these tests need the real models and photos from ../shared/fixtures (see its README)`);
  }
  return join(SHARED, rel);
}

export const FIXTURES = join(__dirname, '..', 'fixtures');
