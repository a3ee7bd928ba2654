import assert from 'node:assert/strict';
import {
  createToolRegistry,
  currentTimeTool,
  isKnownTimeZone,
  runToolCall,
  toolIdempotencyKey,
  zonedTime,
  type ToolContext,
} from '../../activities/tools';

describe('get_current_time', () => {
  describe('zonedTime', () => {
    // Expected values worked out by hand from the instant and the zone's rules.
    const cases = [
      {
        why: 'New York one second before DST starts (EST, -05:00)',
        instant: '2024-03-10T06:59:59Z',
        zone: 'America/New_York',
        expected: {
          timezone: 'America/New_York',
          iso: '2024-03-10T01:59:59-05:00',
          local: '2024-03-10 01:59:59',
          utcOffset: '-05:00',
          weekday: 'Sunday',
        },
      },
      {
        why: 'New York at the instant DST starts (02:00 is skipped, EDT -04:00)',
        instant: '2024-03-10T07:00:00Z',
        zone: 'America/New_York',
        expected: {
          timezone: 'America/New_York',
          iso: '2024-03-10T03:00:00-04:00',
          local: '2024-03-10 03:00:00',
          utcOffset: '-04:00',
          weekday: 'Sunday',
        },
      },
      {
        why: 'New York 01:30 the first time on the day DST ends (EDT)',
        instant: '2024-11-03T05:30:00Z',
        zone: 'America/New_York',
        expected: {
          timezone: 'America/New_York',
          iso: '2024-11-03T01:30:00-04:00',
          local: '2024-11-03 01:30:00',
          utcOffset: '-04:00',
          weekday: 'Sunday',
        },
      },
      {
        why: 'New York 01:30 the second time on the day DST ends (EST)',
        instant: '2024-11-03T06:30:00Z',
        zone: 'America/New_York',
        expected: {
          timezone: 'America/New_York',
          iso: '2024-11-03T01:30:00-05:00',
          local: '2024-11-03 01:30:00',
          utcOffset: '-05:00',
          weekday: 'Sunday',
        },
      },
      {
        why: 'Kolkata (+05:30) past local midnight, so the date and weekday move on',
        instant: '2024-03-10T20:00:00Z',
        zone: 'Asia/Kolkata',
        expected: {
          timezone: 'Asia/Kolkata',
          iso: '2024-03-11T01:30:00+05:30',
          local: '2024-03-11 01:30:00',
          utcOffset: '+05:30',
          weekday: 'Monday',
        },
      },
      {
        why: 'Kathmandu (+05:45)',
        instant: '2024-07-01T12:00:00Z',
        zone: 'Asia/Kathmandu',
        expected: {
          timezone: 'Asia/Kathmandu',
          iso: '2024-07-01T17:45:00+05:45',
          local: '2024-07-01 17:45:00',
          utcOffset: '+05:45',
          weekday: 'Monday',
        },
      },
      {
        why: 'Adelaide in southern summer (ACDT, +10:30)',
        instant: '2024-01-15T00:00:00Z',
        zone: 'Australia/Adelaide',
        expected: {
          timezone: 'Australia/Adelaide',
          iso: '2024-01-15T10:30:00+10:30',
          local: '2024-01-15 10:30:00',
          utcOffset: '+10:30',
          weekday: 'Monday',
        },
      },
      {
        why: "St John's in winter (NST, a negative half-hour offset, -03:30)",
        instant: '2024-01-15T12:00:00Z',
        zone: 'America/St_Johns',
        expected: {
          timezone: 'America/St_Johns',
          iso: '2024-01-15T08:30:00-03:30',
          local: '2024-01-15 08:30:00',
          utcOffset: '-03:30',
          weekday: 'Monday',
        },
      },
      {
        why: 'London in summer (BST, +01:00)',
        instant: '2024-07-01T12:00:00Z',
        zone: 'Europe/London',
        expected: {
          timezone: 'Europe/London',
          iso: '2024-07-01T13:00:00+01:00',
          local: '2024-07-01 13:00:00',
          utcOffset: '+01:00',
          weekday: 'Monday',
        },
      },
      {
        why: 'UTC, with Intl capitalisation of a lower-case name',
        instant: '2024-02-29T23:59:59.999Z',
        zone: 'utc',
        expected: {
          timezone: 'UTC',
          iso: '2024-02-29T23:59:59+00:00',
          local: '2024-02-29 23:59:59',
          utcOffset: '+00:00',
          weekday: 'Thursday',
        },
      },
      {
        why: 'Tokyo at UTC midnight (hour 09, never 24)',
        instant: '2023-12-31T15:00:00Z',
        zone: 'Asia/Tokyo',
        expected: {
          timezone: 'Asia/Tokyo',
          iso: '2024-01-01T00:00:00+09:00',
          local: '2024-01-01 00:00:00',
          utcOffset: '+09:00',
          weekday: 'Monday',
        },
      },
    ];
    for (const { why, instant, zone, expected } of cases) {
      it(`describes ${instant} in ${why}`, () => assert.deepEqual(zonedTime(new Date(instant), zone), expected));
    }
  });

  it('knows IANA zones and rejects made-up ones', () => {
    assert.equal(isKnownTimeZone('Europe/Berlin'), true);
    assert.equal(isKnownTimeZone('Mars/Olympus_Mons'), false);
    assert.equal(isKnownTimeZone('+05:30'), false);
  });

  describe('as a tool', () => {
    const fixed = new Date('2024-03-10T20:00:00Z');
    const registry = createToolRegistry([currentTimeTool({ now: () => fixed })]);
    const ctx = (toolCallId: string): ToolContext => ({
      idempotencyKey: toolIdempotencyKey({ turnId: 'turn-1', hop: 0, toolCallId }),
      signal: new AbortController().signal,
      deadline: new Date(Date.now() + 10_000),
      turnId: 'turn-1',
      hop: 0,
      toolCallId,
    });

    it('returns the time from the injected clock as JSON', async () => {
      const outcome = await runToolCall(
        registry,
        { id: 'c1', name: 'get_current_time', arguments: '{"timezone":" Asia/Kolkata "}' },
        ctx('c1'),
      );
      assert.deepEqual(outcome, {
        content: JSON.stringify({
          timezone: 'Asia/Kolkata',
          iso: '2024-03-11T01:30:00+05:30',
          local: '2024-03-11 01:30:00',
          utcOffset: '+05:30',
          weekday: 'Monday',
        }),
        isError: false,
      });
    });

    it('tells the model an unknown zone is invalid, naming it', async () => {
      const outcome = await runToolCall(
        registry,
        { id: 'c2', name: 'get_current_time', arguments: '{"timezone":"Mars/Olympus_Mons"}' },
        ctx('c2'),
      );
      assert.equal(outcome.isError, true);
      assert.equal(outcome.errorType, 'invalid_arguments');
      assert.match(outcome.content, /Unknown time zone "Mars\/Olympus_Mons": use an IANA name/);
      assert.match(outcome.content, /→ at timezone/);
    });
  });
});
