import { z } from 'zod';
import { EXTERNAL_ID_MAX_LENGTH, EXTERNAL_ID_PATTERN } from './ids';

/** Ids a caller chooses (conversation, request) and tenant ids: short, URL- and log-safe, no separator characters. */
export const ExternalId = z
  .string()
  .min(1, 'must not be empty')
  .max(EXTERNAL_ID_MAX_LENGTH, `must be at most ${EXTERNAL_ID_MAX_LENGTH} characters`)
  .regex(EXTERNAL_ID_PATTERN, 'may contain only letters, digits, ".", "_" and "-"');
