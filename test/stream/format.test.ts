import assert from 'node:assert/strict';
import type { TurnEvent } from '../../common';
import {
  compactTextRun,
  cursorAt,
  decodeEventRow,
  decodeNotification,
  encodeAnnouncement,
  encodeEventRow,
  MAX_NOTIFY_PAYLOAD,
  segmentOf,
  startedAnnouncement,
  type EventRow,
} from '../../stream-log';

const turnId = 'turn/acme/c1/r1';
const base = cursorAt(3, 0);
const text = (n: number, t: string, prev: number): TurnEvent => ({
  type: 'text',
  text: t,
  turnId,
  cursor: base + n,
  prev,
  hop: 1,
  attempt: 2,
});

describe('stream log format', () => {
  it('numbers a segment after every cursor of the segments before it', () => {
    assert.equal(cursorAt(1, 1), 4_294_967_297);
    assert.equal(segmentOf(cursorAt(7, 4_294_967_295)), 7);
    assert.equal(segmentOf(0), 0);
  });

  it('stores the envelope in columns and every other field in data, and reads it back', () => {
    const event: TurnEvent = {
      type: 'tool_result',
      turnId,
      cursor: base + 4,
      prev: base + 3,
      hop: 2,
      attempt: 1,
      toolCallId: 'call_1',
      name: 'calculate',
      content: '84',
      isError: false,
    };
    const row = encodeEventRow(event);
    assert.deepEqual(row.data, { toolCallId: 'call_1', name: 'calculate', content: '84', isError: false });
    assert.deepEqual(decodeEventRow(turnId, row, 0), event);
  });

  it('gives a reader resuming inside a compacted run exactly the text after its cursor', () => {
    const run: EventRow[] = [text(1, 'Hel', 0), text(2, 'lo, ', base + 1), text(3, 'world', base + 2)].map(
      encodeEventRow,
    );
    const merged = compactTextRun(run)!;
    assert.equal(merged.cursor, base + 3);
    assert.deepEqual(merged.data, { text: 'Hello, world', firstCursor: base + 1, lengths: [3, 4, 5] });
    assert.deepEqual(decodeEventRow(turnId, merged, 0), { ...text(3, 'Hello, world', 0) });
    assert.deepEqual(decodeEventRow(turnId, merged, base + 1), { ...text(3, 'lo, world', base + 1) });
    assert.deepEqual(decodeEventRow(turnId, merged, base + 2), { ...text(3, 'world', base + 2) });
    assert.equal(decodeEventRow(turnId, merged, base + 3), undefined);
  });

  it('leaves a run with a hole in its cursors as it is', () => {
    assert.equal(compactTextRun([text(1, 'a', 0), text(3, 'b', base + 1)].map(encodeEventRow)), undefined);
    assert.equal(compactTextRun([text(1, 'a', 0)].map(encodeEventRow)), undefined);
  });

  it('announces an event too big for NOTIFY with a bodiless doorbell that listeners read as one', () => {
    const small = encodeAnnouncement(text(1, 'hi', 0));
    assert.equal(small.doorbell, false);
    const big = encodeAnnouncement(text(2, 'x'.repeat(MAX_NOTIFY_PAYLOAD), base + 1));
    assert.equal(big.doorbell, true);
    assert.deepEqual(JSON.parse(big.payload), { turnId, cursor: base + 2, prev: base + 1, doorbell: true });
    const heard = decodeNotification(`[${small.payload},${big.payload},{"no":"turn"}]`);
    assert.deepEqual(heard, [
      { turnId, event: text(1, 'hi', 0) },
      { turnId, event: undefined },
    ]);
    assert.deepEqual(decodeNotification('not json'), []);
    assert.deepEqual(decodeNotification(undefined), []);
  });

  it('announces that a worker took a direct turn apart from doorbells, so readers have nothing to read for it', () => {
    const small = encodeAnnouncement(text(1, 'hi', 0));
    assert.deepEqual(decodeNotification(`[${startedAnnouncement(turnId)},${small.payload}]`), [
      { turnId, event: undefined, started: true },
      { turnId, event: text(1, 'hi', 0) },
    ]);
  });
});
