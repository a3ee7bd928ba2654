import assert from 'node:assert/strict';
import { temporal } from '@temporalio/proto';
import { conversationStart, countActions, timestampMs, turnStart } from '../../bench/histories';

const T = temporal.api.enums.v1.EventType;
type Event = temporal.api.history.v1.IHistoryEvent;

/** An event `id` of `type` at epoch ms `at`, with `attrs` merged in. */
function ev(id: number, type: temporal.api.enums.v1.EventType, at: number, attrs: Record<string, unknown> = {}): Event {
  const eventTime = { seconds: Math.floor(at / 1000), nanos: (at % 1000) * 1e6 };
  return temporal.api.history.v1.HistoryEvent.fromObject({ eventId: id, eventType: type, eventTime, ...attrs });
}

/** A local activity's marker as the TypeScript SDK's core writes it, done at epoch ms `doneAt`. */
function laMarker(id: number, at: number, task: number, doneAt: number): Event {
  const data = Buffer.from(
    JSON.stringify({ seq: 1, complete_time: { seconds: Math.floor(doneAt / 1000), nanos: (doneAt % 1000) * 1e6 } }),
  );
  return ev(id, T.EVENT_TYPE_MARKER_RECORDED, at, {
    markerRecordedEventAttributes: {
      markerName: 'core_local_activity',
      workflowTaskCompletedEventId: task,
      details: { data: { payloads: [{ data }] } },
    },
  });
}

const upsert = (id: number, at: number, fields: string[]) =>
  ev(id, T.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES, at, {
    upsertWorkflowSearchAttributesEventAttributes: {
      searchAttributes: { indexedFields: Object.fromEntries(fields.map((f) => [f, {}])) },
    },
  });

const BASE = 1_800_000_000_000;

/** A text turn's history: start, a task running prepareTurn as a local activity, an upsert, the LLM activity, … */
const turnHistory = {
  events: [
    ev(1, T.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, BASE, {
      workflowExecutionStartedEventAttributes: { parentWorkflowExecution: { workflowId: 'conversation/t/c' } },
    }),
    ev(2, T.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, BASE),
    ev(3, T.EVENT_TYPE_WORKFLOW_TASK_STARTED, BASE + 10),
    ev(4, T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, BASE + 60, {
      workflowTaskCompletedEventAttributes: { scheduledEventId: 2, startedEventId: 3 },
    }),
    laMarker(5, BASE + 60, 4, BASE + 35),
    ev(6, T.EVENT_TYPE_MARKER_RECORDED, BASE + 60, {
      markerRecordedEventAttributes: { markerName: 'core_patch', workflowTaskCompletedEventId: 4 },
    }),
    upsert(7, BASE + 60, ['TurnStatus', 'TurnHops']),
    upsert(8, BASE + 60, ['TemporalChangeVersion']),
    ev(9, T.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, BASE + 60, {
      activityTaskScheduledEventAttributes: { workflowTaskCompletedEventId: 4 },
    }),
    ev(10, T.EVENT_TYPE_ACTIVITY_TASK_STARTED, BASE + 61, {
      activityTaskStartedEventAttributes: { scheduledEventId: 9, attempt: 2 },
    }),
    ev(11, T.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, BASE + 500),
    ev(12, T.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, BASE + 500),
    ev(13, T.EVENT_TYPE_WORKFLOW_TASK_STARTED, BASE + 505),
    ev(14, T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, BASE + 540, {
      workflowTaskCompletedEventAttributes: { meteringMetadata: { nonfirstLocalActivityExecutionAttempts: 1 } },
    }),
    laMarker(15, BASE + 540, 14, BASE + 530),
    upsert(16, BASE + 540, ['TurnStatus']),
    ev(17, T.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, BASE + 540),
  ],
};

describe('bench: reading histories', () => {
  it('converts protobuf timestamps (seconds may be a Long-like object) to epoch ms', () => {
    assert.equal(timestampMs({ seconds: { toString: () => '2' }, nanos: 5_000_000 }), 2_005);
    assert.ok(Number.isNaN(timestampMs(undefined)));
  });

  it("reads a turn's start up to its first activity, with when its local activities were done", () => {
    assert.deepEqual(turnStart(turnHistory), {
      startedAt: BASE,
      taskScheduledAt: BASE,
      taskStartedAt: BASE + 10,
      taskCompletedAt: BASE + 60,
      localActivitiesDoneAt: BASE + 35,
      localActivities: 1,
      activityScheduledAt: BASE + 60,
      activityStartedAt: BASE + 61,
    });
  });

  it("reads the conversation's task that initiated the turn's child", () => {
    const history = {
      events: [
        ev(1, T.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, BASE),
        ev(2, T.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, BASE + 1),
        ev(3, T.EVENT_TYPE_WORKFLOW_TASK_STARTED, BASE + 20),
        ev(4, T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, BASE + 50, {
          workflowTaskCompletedEventAttributes: { scheduledEventId: 2, startedEventId: 3 },
        }),
        ev(5, T.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED, BASE + 50),
        ev(6, T.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED, BASE + 50, {
          startChildWorkflowExecutionInitiatedEventAttributes: {
            workflowId: 'turn/t/c/r',
            workflowTaskCompletedEventId: 4,
          },
        }),
      ],
    };
    assert.deepEqual(conversationStart(history, 'turn/t/c/r'), {
      startedAt: BASE,
      taskScheduledAt: BASE + 1,
      taskStartedAt: BASE + 20,
      childInitiatedAt: BASE + 50,
    });
    assert.equal(conversationStart(history, 'turn/t/c/other'), undefined);
    // Its actions: the start with its update, and the child's start (two: the intent and the attempt).
    assert.deepEqual(
      { ...countActions(history) },
      {
        workflowStarts: 1,
        childStarts: 2,
        updates: 1,
        searchAttributeUpserts: 0,
        localActivityTasks: 0,
        activities: 0,
        signals: 0,
        timers: 0,
        total: 4,
      },
    );
  });

  it('bills no workflow task for its patch markers alone', () => {
    const events = [
      turnHistory.events[0]!,
      ev(2, T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, BASE + 10),
      ev(3, T.EVENT_TYPE_MARKER_RECORDED, BASE + 10, {
        markerRecordedEventAttributes: { markerName: 'core_patch', workflowTaskCompletedEventId: 2 },
      }),
      ev(4, T.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, BASE + 10),
    ];
    assert.equal(countActions({ events }).localActivityTasks, 0);
    assert.equal(countActions({ events }).total, 0);
  });

  it("counts a turn's billable actions by Temporal Cloud's mapping", () => {
    assert.deepEqual(countActions(turnHistory), {
      workflowStarts: 0, // a child: its parent's initiation counts
      childStarts: 0,
      updates: 0,
      searchAttributeUpserts: 2, // the versioning attribute's own upsert is exempt
      localActivityTasks: 3, // two tasks recorded markers, plus one non-first local attempt
      activities: 2, // one scheduled, started on its second attempt
      signals: 0,
      timers: 0,
      total: 7,
    });
  });
});
