/**
 * Pure readings of Temporal histories for the bench: when each step of a turn's start happened (the server's own
 * event times), and how many Temporal Cloud billable actions a history holds.
 */
import { temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.IHistory;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
const T = temporal.api.enums.v1.EventType;

/** Epoch ms of a protobuf timestamp (seconds may be a Long). */
export function timestampMs(ts: { seconds?: unknown; nanos?: number | null } | null | undefined): number {
  if (!ts) return NaN;
  return Number(ts.seconds ?? 0) * 1000 + (ts.nanos ?? 0) / 1e6;
}

const timeOf = (e: HistoryEvent | undefined) => timestampMs(e?.eventTime);
const idOf = (e: HistoryEvent) => Number(e.eventId);

/** Marker name of a local activity's result in the TypeScript (core) SDK. */
const LOCAL_ACTIVITY_MARKER = 'core_local_activity';

/** The start of the conversation's part in one turn, from the conversation workflow's history. */
export interface ConversationStart {
  /** WorkflowExecutionStarted (absent when the turn was not its conversation's first: no start then). */
  startedAt: number | undefined;
  /** The workflow task that initiated the child: scheduled, picked up by the worker. */
  taskScheduledAt: number;
  taskStartedAt: number;
  /** The completion of the workflow task that started the turn's child workflow. */
  childInitiatedAt: number;
}

/**
 * Reads the conversation's start of the child `turnId`: the workflow task that initiated the child (for a turn
 * accepted by an idle conversation, the task that ran the update).
 * @returns undefined when the history holds no start of that child.
 */
export function conversationStart(history: History, turnId: string): ConversationStart | undefined {
  const events = history.events ?? [];
  const initiated = events.find(
    (e) =>
      e.eventType === T.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED &&
      e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId === turnId,
  );
  if (!initiated) return undefined;
  const completedId = Number(
    initiated.startChildWorkflowExecutionInitiatedEventAttributes?.workflowTaskCompletedEventId,
  );
  const completed = events.find((e) => idOf(e) === completedId);
  const task = completed?.workflowTaskCompletedEventAttributes;
  const scheduled = events.find((e) => idOf(e) === Number(task?.scheduledEventId));
  const taskStarted = events.find((e) => idOf(e) === Number(task?.startedEventId));
  const started = events.find((e) => e.eventType === T.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED);
  return {
    startedAt: started && idOf(started) < idOf(initiated) ? timeOf(started) : undefined,
    taskScheduledAt: timeOf(scheduled),
    taskStartedAt: timeOf(taskStarted),
    childInitiatedAt: timeOf(completed),
  };
}

/** The turn's own start, from its (child) workflow's history. */
export interface TurnStart {
  startedAt: number;
  taskScheduledAt: number;
  taskStartedAt: number;
  /** The completion of the workflow task that scheduled the first LLM activity. */
  taskCompletedAt: number;
  /** When the last local activity of that first stretch reported done (the SDK's marker data), if any. */
  localActivitiesDoneAt: number | undefined;
  /** Local activities before the first LLM activity. */
  localActivities: number;
  activityScheduledAt: number;
  activityStartedAt: number;
}

/** Reads the turn's start up to its first (LLM) activity. @returns undefined when no activity was scheduled. */
export function turnStart(history: History): TurnStart | undefined {
  const events = history.events ?? [];
  const scheduled = events.find((e) => e.eventType === T.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED);
  if (!scheduled) return undefined;
  const activityStarted = events.find(
    (e) =>
      e.eventType === T.EVENT_TYPE_ACTIVITY_TASK_STARTED &&
      Number(e.activityTaskStartedEventAttributes?.scheduledEventId) === idOf(scheduled),
  );
  const completedId = Number(scheduled.activityTaskScheduledEventAttributes?.workflowTaskCompletedEventId);
  const before = events.filter((e) => idOf(e) < idOf(scheduled));
  const markers = before.filter(
    (e) =>
      e.eventType === T.EVENT_TYPE_MARKER_RECORDED &&
      e.markerRecordedEventAttributes?.markerName === LOCAL_ACTIVITY_MARKER,
  );
  const doneTimes = markers.map((m) => localActivityCompleteTime(m)).filter((t) => Number.isFinite(t));
  return {
    startedAt: timeOf(events.find((e) => e.eventType === T.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)),
    taskScheduledAt: timeOf(events.find((e) => e.eventType === T.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED)),
    taskStartedAt: timeOf(events.find((e) => e.eventType === T.EVENT_TYPE_WORKFLOW_TASK_STARTED)),
    taskCompletedAt: timeOf(events.find((e) => idOf(e) === completedId)),
    localActivitiesDoneAt: doneTimes.length > 0 ? Math.max(...doneTimes) : undefined,
    localActivities: markers.length,
    activityScheduledAt: timeOf(scheduled),
    activityStartedAt: timeOf(activityStarted),
  };
}

/** `complete_time` of a local activity marker's data (JSON written by the SDK core), epoch ms; NaN if absent. */
function localActivityCompleteTime(marker: HistoryEvent): number {
  const payload = marker.markerRecordedEventAttributes?.details?.['data']?.payloads?.[0];
  if (!payload?.data) return NaN;
  try {
    const data = JSON.parse(Buffer.from(payload.data).toString('utf8')) as { complete_time?: unknown };
    const t = data.complete_time;
    if (typeof t === 'string') return Date.parse(t);
    if (t && typeof t === 'object') return timestampMs(t);
    return NaN;
  } catch {
    return NaN;
  }
}

/** Billable actions of a history by kind, following Temporal Cloud's published mapping ("Temporal Cloud Actions"). */
export interface ActionCount {
  /** WorkflowExecutionStarted of a workflow started by a client (with or without an update: multi-operation). */
  workflowStarts: number;
  /** StartChildWorkflowExecutionInitiated: two each (the intent and the attempt). */
  childStarts: number;
  /** WorkflowExecutionUpdateAccepted. */
  updates: number;
  /** UpsertWorkflowSearchAttributes commands, one each whatever the number of attributes. */
  searchAttributeUpserts: number;
  /** Workflow tasks that ran local activities: one per task, plus each non-first local attempt (patch markers: 0). */
  localActivityTasks: number;
  /** ActivityTaskScheduled, plus each retry (attempt − 1 of its ActivityTaskStarted). */
  activities: number;
  /** WorkflowExecutionSignaled (a signal from a client or from another workflow). */
  signals: number;
  /** TimerStarted. */
  timers: number;
  total: number;
}

/**
 * Counts the billable actions a history shows (heartbeats and queries leave no event: count them elsewhere). A
 * child's own WorkflowExecutionStarted is not counted: its parent's StartChildWorkflowExecutionInitiated is (two
 * actions); a continued-as-new run's start is.
 */
export function countActions(history: History): ActionCount {
  const c: ActionCount = {
    workflowStarts: 0,
    childStarts: 0,
    updates: 0,
    searchAttributeUpserts: 0,
    localActivityTasks: 0,
    activities: 0,
    signals: 0,
    timers: 0,
    total: 0,
  };
  const markerTasks = new Set<number>();
  for (const e of history.events ?? []) {
    switch (e.eventType) {
      case T.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        if (!e.workflowExecutionStartedEventAttributes?.parentWorkflowExecution) c.workflowStarts += 1;
        break;
      case T.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
        c.childStarts += 2;
        break;
      case T.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
        c.updates += 1;
        break;
      case T.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: {
        // Versioning's own attribute is exempt.
        const fields = Object.keys(
          e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ?? {},
        );
        if (fields.some((f) => f !== 'TemporalChangeVersion')) c.searchAttributeUpserts += 1;
        break;
      }
      case T.EVENT_TYPE_MARKER_RECORDED:
        // Local activities only: the page bills no version (patch) markers, and side effects are Go and Java only.
        if (e.markerRecordedEventAttributes?.markerName === LOCAL_ACTIVITY_MARKER) {
          markerTasks.add(Number(e.markerRecordedEventAttributes.workflowTaskCompletedEventId));
        }
        break;
      case T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
        c.localActivityTasks +=
          e.workflowTaskCompletedEventAttributes?.meteringMetadata?.nonfirstLocalActivityExecutionAttempts ?? 0;
        break;
      case T.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        c.activities += 1;
        break;
      case T.EVENT_TYPE_ACTIVITY_TASK_STARTED:
        c.activities += Math.max(0, (e.activityTaskStartedEventAttributes?.attempt ?? 1) - 1);
        break;
      case T.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
        c.signals += 1;
        break;
      case T.EVENT_TYPE_TIMER_STARTED:
        c.timers += 1;
        break;
      default:
        break;
    }
  }
  c.localActivityTasks += markerTasks.size;
  c.total =
    c.workflowStarts +
    c.childStarts +
    c.updates +
    c.searchAttributeUpserts +
    c.localActivityTasks +
    c.activities +
    c.signals +
    c.timers;
  return c;
}
