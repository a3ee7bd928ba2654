import { z } from 'zod';

/** One AES-256 key and the id payloads encrypted with it carry in their metadata. */
export interface EncryptionKey {
  id: string;
  /** 32 bytes. */
  key: Buffer;
}

const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * `TURNFLOW_ENCRYPTION_KEYS`: comma-separated `keyId:base64key` entries, each key 32 bytes (AES-256), ids unique.
 * The first entry encrypts; every entry decrypts (rotation: put the new key first, keep the old ones). Messages name
 * the entry by position and id, never its key material.
 */
export const EncryptionKeys = z.string().transform((text, ctx): EncryptionKey[] => {
  const keys: EncryptionKey[] = [];
  const entries = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (entries.length === 0) {
    ctx.addIssue({ code: 'custom', message: 'must hold at least one keyId:base64key entry' });
    return z.NEVER;
  }
  for (const [i, entry] of entries.entries()) {
    const colon = entry.indexOf(':');
    const id = colon < 0 ? '' : entry.slice(0, colon);
    const encoded = colon < 0 ? '' : entry.slice(colon + 1);
    if (!KEY_ID.test(id)) {
      ctx.addIssue({
        code: 'custom',
        message: `entry ${i + 1}: must be keyId:base64key, the id 1-64 letters, digits, ".", "_" or "-"`,
      });
      continue;
    }
    const key = /^[A-Za-z0-9+/]+={0,2}$/.test(encoded) ? Buffer.from(encoded, 'base64') : Buffer.alloc(0);
    if (key.length !== 32) {
      ctx.addIssue({ code: 'custom', message: `key "${id}": must be 32 bytes in base64 (openssl rand -base64 32)` });
      continue;
    }
    if (keys.some((k) => k.id === id)) {
      ctx.addIssue({ code: 'custom', message: `key "${id}" is given twice` });
      continue;
    }
    keys.push({ id, key });
  }
  return keys;
});
