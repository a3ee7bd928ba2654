import type { Context } from 'hono';
import { CursorOutOfRangeError, type TurnClient } from '../client';
import { ApiError } from './errors';
import { validate } from './request';
import { Cursor, EventsQuery } from './schemas';

/**
 * The cursor a `GET /turns/:turnId/events` resumes after: `Last-Event-ID` (an EventSource reconnecting sends it,
 * and it wins over the `?after=` of the URL it was opened with), else `?after=`, else 0.
 * @throws ApiError 400 for a malformed cursor.
 */
export function requestedCursor(c: Context): { after: number; source: 'Last-Event-ID' | 'after' } {
  const query = validate(EventsQuery, c.req.query(), 'query');
  const lastEventId = c.req.header('last-event-id');
  if (lastEventId !== undefined)
    return { after: validate(Cursor, lastEventId, 'Last-Event-ID'), source: 'Last-Event-ID' };
  return { after: query.after ?? 0, source: 'after' };
}

/**
 * Checks the requested cursor against the (owned) turn, so that no stream waits on a cursor the turn never issued.
 * `ended` says the cursor is the turn's terminal event: the reader has seen everything.
 * @throws ApiError 400 for a cursor beyond the turn's end or from a segment it never claimed (another turn's).
 */
export async function resumePoint(
  turns: TurnClient,
  turnId: string,
  requested: { after: number; source: string },
): Promise<{ after: number; ended: boolean }> {
  try {
    const state = await turns.checkCursor(turnId, requested.after);
    return { after: requested.after, ended: state === 'ended' };
  } catch (err: unknown) {
    if (!(err instanceof CursorOutOfRangeError)) throw err;
    const why = err.reason === 'beyond_end' ? 'it lies beyond the end of the turn' : 'the turn never issued it';
    throw new ApiError(
      400,
      'bad_request',
      `${requested.source} ${requested.after} is not a cursor of turn ${turnId} (${why}); ` +
        'resume with the id of an event this turn sent, or without one to read from the start',
      { cause: err },
    );
  }
}
