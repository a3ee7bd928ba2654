// Applies db/migrations to DATABASE_URL (`npx tsx dev/migrate.ts`); docker-compose's one-shot `migrate` service runs it.
import { z } from 'zod';
import { migrate } from '../db';

const Env = z.object({ DATABASE_URL: z.string().url() });

async function main(): Promise<void> {
  const parsed = Env.safeParse(process.env);
  if (!parsed.success) throw new Error(`invalid environment: ${z.prettifyError(parsed.error)}`);
  await migrate(parsed.data.DATABASE_URL, { log: (line) => console.log(line) });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
