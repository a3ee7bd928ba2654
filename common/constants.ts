/** The one task queue every turnflow worker polls and every client starts turns on. */
export const TASK_QUEUE = 'turnflow';

/**
 * How long a worker may hold a workflow task of a conversation or a turn before another worker may take it. A worker
 * killed while it holds one (storing an answer in a local activity, say) stalls its workflow this long: the server's
 * default, 10 s, was most of the recovery after such a kill. A task that runs local activities longer is kept alive
 * by the SDK (it completes the task and takes the next at 80 % of this); only a worker whose event loop stalls this
 * long loses its task to another, which replays the workflow from its history.
 */
export const WORKFLOW_TASK_TIMEOUT = '5 seconds';
